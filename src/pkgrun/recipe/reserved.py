"""pkgrun's command names. `pkgrun NAME` builds recipe NAME, so a recipe may not take one of
these names. A module of its own: the command line reads it before anything heavy is imported."""

COMMAND_NAMES = frozenset(
    {
        *("build", "check", "fetch", "help", "image", "key", "list", "nightly", "plan", "publish"),
        *("rebuild", "repo", "sbom", "serve"),
    }
)
