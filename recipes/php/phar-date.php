<?php
// phar-date.php PHAR EPOCH: give every file in the archive PHAR the time EPOCH and sign it
// again. PHP's build makes bin/phar.phar with the build's clock as each file's time (PHP 8.2
// knows no SOURCE_DATE_EPOCH), so two builds would differ in those bytes and the signature.
// Run by build.sh with the PHP just built: php -n phar-date.php FILE "$SOURCE_DATE_EPOCH".
//
// The phar format: a stub that ends with the halt-compiler call, the manifest (its length, the file
// count, API version, flags, alias, metadata, then one entry per file: name, size, time,
// compressed size, crc32, flags, metadata), the files, then the signature, its type and GBMB.

if ($argc !== 3 || !ctype_digit($argv[2])) {
    fwrite(STDERR, "usage: php phar-date.php PHAR EPOCH\n");
    exit(2);
}
[$file, $epoch] = [$argv[1], (int) $argv[2]];
$data = file_get_contents($file);
$halt = strpos($data, "__HALT_COMPILER(); ?>");
if ($halt === false || substr($data, -4) !== "GBMB") {
    fwrite(STDERR, "$file: not a signed phar\n");
    exit(1);
}
$at = $halt + strlen("__HALT_COMPILER(); ?>");
if (substr($data, $at, 2) === "\r\n") {
    $at += 2;
} elseif ($data[$at] === "\n") {
    $at += 1;
}
$u32 = function (int $pos) use (&$data): int {  // PHP 7.1 has no arrow functions
    return unpack("V", $data, $pos)[1];
};
$count = $u32($at + 4);
$pos = $at + 4 + 4 + 2 + 4;               // length, file count, API version, flags
$pos += 4 + $u32($pos);                   // alias
$pos += 4 + $u32($pos);                   // metadata
for ($i = 0; $i < $count; $i++) {
    $pos += 4 + $u32($pos);               // name
    $data = substr_replace($data, pack("V", $epoch), $pos + 4, 4);  // after the size: the time
    $pos += 4 * 5;                        // size, time, compressed size, crc32, flags
    $pos += 4 + $u32($pos);               // metadata
}
$algorithms = [1 => ["md5", 16], 2 => ["sha1", 20], 3 => ["sha256", 32], 4 => ["sha512", 64]];
$type = $u32(strlen($data) - 8);
if (!isset($algorithms[$type])) {
    fwrite(STDERR, "$file: signature type $type is not a hash this script can make\n");
    exit(1);
}
[$algorithm, $length] = $algorithms[$type];
$signed = substr($data, 0, strlen($data) - 8 - $length);
file_put_contents($file, $signed . hash($algorithm, $signed, true) . pack("V", $type) . "GBMB");
