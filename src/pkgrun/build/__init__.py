"""One package from one plan: the plan, its sources, the compile cache, staging, the packagers
(fpm and nfpm), the automatic dependencies, verifying the RPM and rpmlint. Imports rpm, recipe,
trust, engine, repo and the base."""
