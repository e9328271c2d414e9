# LocalStack for deploy tests (`chalice-local deploy`), without Docker where there is none.
# Standalone: these use the system python3, not the project venv. LOCALSTACK_PORT picks the port.
LOCALSTACK_PORT ?= 4566
LOCALSTACK_HOST_PY := python3 infra/localstack/host.py

.PHONY: localstack localstack-stop localstack-status localstack-install

localstack: ## start LocalStack (127.0.0.1:4566, or LOCALSTACK_PORT) and wait until healthy
	$(LOCALSTACK_HOST_PY) start --port $(LOCALSTACK_PORT)

localstack-stop: ## stop LocalStack and every process it started
	$(LOCALSTACK_HOST_PY) stop

localstack-status: ## is LocalStack running, and healthy?
	$(LOCALSTACK_HOST_PY) status

localstack-install: ## install LocalStack for running without Docker (cached in .cache/localstack)
	$(LOCALSTACK_HOST_PY) install

.PHONY: deploy-local destroy-local

deploy-local: $(STAMP) ## create bucket and table in LocalStack and deploy the dev stage there
	$(PY) scripts/deploy_local.py deploy --port $(LOCALSTACK_PORT)

destroy-local: $(STAMP) ## remove the dev stage, its bucket and its table from LocalStack
	$(PY) scripts/deploy_local.py destroy --port $(LOCALSTACK_PORT)
