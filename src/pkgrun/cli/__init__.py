"""The command line: the parser, the commands and the one module that prints (console.py)."""
