"""Dynamic providers for what no Pulumi or Terraform resource can run: the RFT
customization job, provisioned throughput and on-demand deployments of its model.

Module paths here are part of the state format (Pulumi pickles provider classes by
reference): never move or rename these modules without a migration.
"""
