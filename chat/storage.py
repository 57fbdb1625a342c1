"""Static files as served in production: compressed, hash-named, cached for ever."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):  # type: ignore[misc]
    # The page's scripts are ES modules importing each other ("./socket.js"); rewrite those imports
    # to hashed names too, or a deploy could pair a new module with a cached old one.
    support_js_module_import_aggregation = True
