# Swagger UI for the interactive API documentation (GET /docs): the swagger-ui-dist package of
# the npm registry at a pinned version, its tarball checked against a pinned sha512, and only the
# files the page loads (plus the licences) kept in chalicelib/web/vendor/ (not in git; packaged
# with the function like the rest of chalicelib/). The stylesheet loses its source-map comment:
# the map is not kept, and a browser's developer tools would ask for it. Fetched once per
# version: later runs see the stamp and open no connection. `npm pack` goes through npm's own
# configuration (registry mirror, proxy); it fetches the package alone, none of its
# dependencies, and runs no scripts.
SWAGGER_UI_VERSION := 5.35.0
SWAGGER_UI_INTEGRITY := sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==
SWAGGER_UI_DIR := chalicelib/web/vendor
SWAGGER_UI_STAMP := $(SWAGGER_UI_DIR)/.swagger-ui-dist-$(SWAGGER_UI_VERSION)
SWAGGER_UI_FILES := swagger-ui-bundle.js swagger-ui.css LICENSE swagger-ui-bundle.js.LICENSE.txt

.PHONY: swagger-ui

swagger-ui: $(SWAGGER_UI_STAMP) ## vendor Swagger UI (swagger-ui-dist, pinned) for /docs, once

$(SWAGGER_UI_STAMP):
	@command -v npm >/dev/null || { echo "swagger-ui: npm is needed (apt-get install npm)"; exit 1; }
	@set -euo pipefail; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo "swagger-ui: swagger-ui-dist@$(SWAGGER_UI_VERSION) from $$(npm config get registry)"; \
	npm pack --silent --ignore-scripts --pack-destination "$$tmp" \
		"swagger-ui-dist@$(SWAGGER_UI_VERSION)" >/dev/null; \
	tarball="$$tmp/swagger-ui-dist-$(SWAGGER_UI_VERSION).tgz"; \
	got="sha512-$$(openssl dgst -sha512 -binary "$$tarball" | openssl base64 -A)"; \
	if [ "$$got" != "$(SWAGGER_UI_INTEGRITY)" ]; then \
		echo "swagger-ui: the tarball's integrity is $$got, not the pinned one" >&2; exit 1; fi; \
	tar -xzf "$$tarball" -C "$$tmp" $(addprefix package/,$(SWAGGER_UI_FILES)); \
	sed -i '/sourceMappingURL=/d' "$$tmp/package/swagger-ui.css"; \
	touch "$$tmp/package/$(notdir $(SWAGGER_UI_STAMP))"; \
	rm -rf $(SWAGGER_UI_DIR); mv "$$tmp/package" $(SWAGGER_UI_DIR)
	@ls -l $(SWAGGER_UI_DIR)

TEST_NEEDS += swagger-ui
# What serves, packages or measures the app (make bench: package_mb), and the quick tests (which
# load /docs in-process), need it.
run package deploy-local deploy-stack-local deploy-stack bench unit: swagger-ui
