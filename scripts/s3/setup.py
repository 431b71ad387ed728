"""Sets up the test S3 endpoint (moto, started by scripts/s3.sh with IAM authentication on
after the first three requests): a user with an access key allowed everything, and the bucket
`ratings-test` created with that key. Writes `AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=…` to
the file given, so that clients with other credentials are refused as by a real S3.

Usage: setup.py ENDPOINT CREDENTIALS_FILE
"""
import json
import sys

import boto3

endpoint, credentials_file = sys.argv[1], sys.argv[2]
anonymous = dict(
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="setup",
    aws_secret_access_key="setup",
)
iam = boto3.client("iam", **anonymous)
# the three unauthenticated requests moto allows
iam.create_user(UserName="ratings-test")
iam.put_user_policy(
    UserName="ratings-test",
    PolicyName="everything",
    PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    ),
)
key = iam.create_access_key(UserName="ratings-test")["AccessKey"]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=key["AccessKeyId"],
    aws_secret_access_key=key["SecretAccessKey"],
)
s3.create_bucket(Bucket="ratings-test")
with open(credentials_file, "w") as out:
    out.write(f"AWS_ACCESS_KEY_ID={key['AccessKeyId']} AWS_SECRET_ACCESS_KEY={key['SecretAccessKey']}\n")
