# Packaging for a real AWS account (CloudFormation / SAM), see README "Deploying to AWS".

PACKAGE_DIR ?= build/package
AWS_REGION ?= us-east-1

VENDORED := vendor/.installed-stamp

.PHONY: package

# Packages chalice puts into the zip as they are (vendor/): X-Ray's SDK without its botocore.
$(VENDORED): requirements-tracing.txt
	rm -rf vendor
	$(PY) -m pip install --quiet --no-deps --target vendor --platform manylinux2014_x86_64 \
		--implementation cp --python-version 3.11 --only-binary=:all: -r requirements-tracing.txt
	@touch $@

package: $(STAMP) $(VENDORED) ## chalice package (prod stage) + bucket and table resources, checked by cfn-lint
	rm -rf $(PACKAGE_DIR)
	AWS_DEFAULT_REGION=$(AWS_REGION) $(VENV)/bin/chalice package --stage prod \
		--merge-template infra/aws/resources.json $(PACKAGE_DIR)
	$(VENV)/bin/cfn-lint $(PACKAGE_DIR)/sam.json
	@ls -l $(PACKAGE_DIR)
	@echo "Deploy it with: make deploy-stack ARTIFACTS_BUCKET=<a bucket for the code> [STACK=image-service]"
