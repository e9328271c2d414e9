# Packaging for a real AWS account (CloudFormation / SAM), see README "Deploying to AWS".

PACKAGE_DIR ?= build/package
AWS_REGION ?= us-east-1

.PHONY: package

package: $(STAMP) ## chalice package (prod stage) + bucket and table resources, checked by cfn-lint
	rm -rf $(PACKAGE_DIR)
	AWS_DEFAULT_REGION=$(AWS_REGION) $(VENV)/bin/chalice package --stage prod \
		--merge-template infra/aws/resources.json $(PACKAGE_DIR)
	$(VENV)/bin/cfn-lint $(PACKAGE_DIR)/sam.json
	@ls -l $(PACKAGE_DIR)
	@echo "Deploy with: aws cloudformation package --template-file $(PACKAGE_DIR)/sam.json --s3-bucket <artifacts bucket> --output-template-file $(PACKAGE_DIR)/packaged.yaml"
	@echo "        and: aws cloudformation deploy --template-file $(PACKAGE_DIR)/packaged.yaml --stack-name image-service --capabilities CAPABILITY_IAM"
