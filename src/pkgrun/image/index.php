<?php
// pkgrun's runtime image: a page that only PHP can have made.
$q = isset($_GET['q']) ? (string) $_GET['q'] : 'pkgrun';
header('Content-Type: text/plain; charset=utf-8');
printf("PHP %s via %s\n", PHP_VERSION, php_sapi_name());
printf("md5(%s) = %s\n", $q, md5($q));
printf("served by %s\n", $_SERVER['SERVER_SOFTWARE'] ?? 'unknown');
