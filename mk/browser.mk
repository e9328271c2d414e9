# Headless Chromium for the gallery's browser tests (tests/browser) and scripts/gallery_bench.py:
# Debian's chromium package, driven by Playwright (requirements-dev.txt). Playwright's own
# `playwright install` is never used: it downloads a browser build, which cannot be had here.
# Installing needs root (CI runs as root); elsewhere sudo is used when there is one.
BROWSER_SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
BROWSER_APT := $(BROWSER_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: browser

browser: ## install Debian's chromium for the browser tests, if it is missing (apt-get)
	@command -v chromium >/dev/null || ($(BROWSER_APT) update && $(BROWSER_APT) install -y chromium)
	@chromium --version 2>/dev/null

TEST_NEEDS += browser
