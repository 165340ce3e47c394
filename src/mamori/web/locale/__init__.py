"""The console's message catalogues, one ``.po`` file per language (read by
:mod:`mamori.web.i18n`). ``python -m mamori.web.locale [--update]`` checks them against the
messages of the templates and pages (and adds what is missing)."""
