"""The test IAM evaluator decides like IAM on the cases rft-env's documents use, and
refuses what it does not model."""

from __future__ import annotations

import pytest

from tests.iam_evaluator import Request, allowed, identity_allows

ROLE = "arn:aws:iam::111122223333:role/rft-env-deployer"
KEY = "arn:aws:kms:us-east-1:111122223333:key/abc"
ROOT = {"AWS": "arn:aws:iam::111122223333:root"}


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: object, resource: object, **extra: object) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_actions_match_with_wildcards_and_case_resources_exactly() -> None:
    doc = policy(allow("bedrock:Get*", "arn:aws:bedrock:us-east-1:1:custom-model/*"))
    model = "arn:aws:bedrock:us-east-1:1:custom-model/m/abc"
    assert identity_allows(Request(ROLE, "bedrock:GetCustomModel", model), doc)
    assert identity_allows(Request(ROLE, "BEDROCK:getcustommodel", model), doc)
    assert not identity_allows(Request(ROLE, "bedrock:DeleteCustomModel", model), doc)
    assert not identity_allows(Request(ROLE, "bedrock:GetCustomModel", model.upper()), doc)
    assert not identity_allows(Request(ROLE, "bedrock:ListCustomModels", "*"), doc)


def test_an_explicit_deny_wins() -> None:
    doc = policy(
        allow("s3:*", "*"), {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}
    )
    assert identity_allows(Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/k"), doc)
    assert not identity_allows(Request(ROLE, "s3:DeleteBucket", "arn:aws:s3:::b"), doc)


def test_conditions_need_their_keys_in_the_request() -> None:
    doc = policy(
        allow(
            "kms:CreateGrant",
            KEY,
            Condition={
                "StringEquals": {"kms:ViaService": "bedrock.us-east-1.amazonaws.com"},
                "Bool": {"kms:GrantIsForAWSResource": "true"},
            },
        )
    )
    context = {
        "kms:ViaService": "bedrock.us-east-1.amazonaws.com",
        "kms:GrantIsForAWSResource": "true",
    }
    assert identity_allows(Request(ROLE, "kms:CreateGrant", KEY, context), doc)
    for missing in context:
        partial = {k: v for k, v in context.items() if k != missing}
        assert not identity_allows(Request(ROLE, "kms:CreateGrant", KEY, partial), doc)
    wrong = {**context, "kms:ViaService": "s3.us-east-1.amazonaws.com"}
    assert not identity_allows(Request(ROLE, "kms:CreateGrant", KEY, wrong), doc)


def test_set_operators_and_like_operators() -> None:
    any_of = policy(
        allow(
            "kms:Decrypt",
            KEY,
            Condition={"ForAnyValue:StringEquals": {"kms:ViaService": ["a", "b"]}},
        )
    )
    assert identity_allows(Request(ROLE, "kms:Decrypt", KEY, {"kms:ViaService": "b"}), any_of)
    assert not identity_allows(Request(ROLE, "kms:Decrypt", KEY, {"kms:ViaService": "c"}), any_of)
    arn_like = policy(
        allow(
            "bedrock:InvokeModel",
            "*",
            Condition={
                "ArnLike": {
                    "bedrock:InferenceProfileArn": "arn:aws:bedrock:*:1:inference-profile/us.*"
                }
            },
        )
    )
    through = {"bedrock:InferenceProfileArn": "arn:aws:bedrock:us-east-1:1:inference-profile/us.m"}
    assert identity_allows(Request(ROLE, "bedrock:InvokeModel", "m", through), arn_like)
    assert not identity_allows(Request(ROLE, "bedrock:InvokeModel", "m"), arn_like)


def test_unmodelled_operators_are_refused_not_guessed() -> None:
    doc = policy(allow("kms:Decrypt", KEY, Condition={"NumericLessThan": {"kms:X": "1"}}))
    with pytest.raises(ValueError, match="unsupported condition operator"):
        identity_allows(Request(ROLE, "kms:Decrypt", KEY, {"kms:X": "0"}), doc)


def test_a_key_policy_for_the_account_root_only_delegates_to_the_identity_policy() -> None:
    key_policy = policy(
        {
            **allow("kms:Decrypt", "*", Condition={"ArnEquals": {"aws:PrincipalArn": ROLE}}),
            "Principal": ROOT,
        }
    )
    identity = policy(allow("kms:Decrypt", KEY))
    request = Request(ROLE, "kms:Decrypt", KEY)
    assert allowed(request, [identity], key_policy)
    assert not allowed(request, [policy()], key_policy)
    # Another principal of the account is not named by the condition.
    other = Request("arn:aws:iam::111122223333:role/other", "kms:Decrypt", KEY)
    assert not allowed(other, [identity], key_policy)
    # A key policy naming the role itself allows without an identity policy.
    direct = policy({**allow("kms:Decrypt", "*"), "Principal": {"AWS": ROLE}})
    assert allowed(request, [policy()], direct)
    # Another account's root names nobody here.
    foreign = policy(
        {**allow("kms:Decrypt", "*"), "Principal": {"AWS": "arn:aws:iam::999988887777:root"}}
    )
    assert not allowed(request, [identity], foreign)
