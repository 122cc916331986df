from pkgrun.cli import run

run()
