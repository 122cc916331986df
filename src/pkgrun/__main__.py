from pkgrun.cli.main import run

run()
