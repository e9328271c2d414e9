# The production template (make package), deployed through CloudFormation: to LocalStack on
# this host (`make localstack` first), or to the AWS account of your credentials.
STACK ?= image-service
ARTIFACTS_BUCKET ?=
USER_POOL_ARN ?=
CORS_ORIGINS ?= *
ALARM_EMAIL ?=
LOCALSTACK_ENV := AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1

.PHONY: deploy-stack-local destroy-stack-local deploy-stack destroy-stack replay-failed replay-failed-local

deploy-stack-local: $(STAMP) $(VENDORED) ## deploy the packaged template through LocalStack's CloudFormation (header identity)
	$(LOCALSTACK_ENV) $(PY) scripts/deploy_stack.py deploy --stage stack --stack $(STACK)-local \
		--artifacts-bucket $(STACK)-artifacts --endpoint-url http://127.0.0.1:$(LOCALSTACK_PORT)

destroy-stack-local: $(STAMP) ## delete the LocalStack stack, its bucket and its table
	$(LOCALSTACK_ENV) $(PY) scripts/deploy_stack.py destroy --stack $(STACK)-local \
		--endpoint-url http://127.0.0.1:$(LOCALSTACK_PORT)

deploy-stack: $(STAMP) $(VENDORED) ## deploy to AWS: make deploy-stack ARTIFACTS_BUCKET=name [STACK=] [USER_POOL_ARN=] [CORS_ORIGINS=] [ALARM_EMAIL=]
	@test -n "$(ARTIFACTS_BUCKET)" || { echo "give ARTIFACTS_BUCKET=<a bucket for the code>"; exit 2; }
	$(PY) scripts/deploy_stack.py deploy --stage prod --stack $(STACK) \
		--artifacts-bucket $(ARTIFACTS_BUCKET) --user-pool-arn "$(USER_POOL_ARN)" \
		--cors-origins "$(CORS_ORIGINS)" --alarm-email "$(ALARM_EMAIL)"

destroy-stack: $(STAMP) ## delete the AWS stack but keep its bucket and table (the photos)
	$(PY) scripts/deploy_stack.py destroy --stack $(STACK) --keep-data

replay-failed: $(STAMP) ## replay the events and variants requests that failed past their retries (AWS)
	$(PY) scripts/replay_failed.py --stack $(STACK)

replay-failed-local: $(STAMP) ## the same, for the LocalStack stack
	$(LOCALSTACK_ENV) $(PY) scripts/replay_failed.py --stack $(STACK)-local \
		--endpoint-url http://127.0.0.1:$(LOCALSTACK_PORT)
