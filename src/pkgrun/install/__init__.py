"""What a server sees: the install test of a built package with the target's repositories,
names looked up in the distribution before the compile, competing distribution packages, and the
runtime image. Imports build and everything below it."""
