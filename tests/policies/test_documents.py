"""The document helpers every document-reading rule relies on."""

from __future__ import annotations

import json

import pytest
from pulumi_policy.proxy import unknown_checking_proxy

from rft_env.policies.rules import documents as docs
from rft_env.policies.rules.common import (
    as_bool,
    as_number,
    decode_json,
    get,
    provider_allowed_accounts,
    provider_default_tags,
    string_list,
)
from tests.policies.helpers import DEFAULT_TAGS, provider


class TestParse:
    def test_json_string_and_mapping(self) -> None:
        document = {"Version": "2012-10-17", "Statement": []}
        assert docs.parse_document(json.dumps(document)) == document
        assert docs.parse_document(document) is document

    @pytest.mark.parametrize("value", [None, "", "   ", "{not json", "[1, 2]", 42, ["x"]])
    def test_missing_or_unparseable_is_none(self, value: object) -> None:
        assert docs.parse_document(value) is None

    def test_malformed_json_is_an_error_with_position(self) -> None:
        error = docs.document_error('{"Statement": [}')
        assert error is not None
        assert "not valid JSON" in error
        assert "line 1" in error

    def test_json_that_is_not_an_object_is_an_error(self) -> None:
        assert "not an object" in (docs.document_error("[]") or "")

    def test_non_string_is_an_error(self) -> None:
        assert "not a JSON policy document" in (docs.document_error(42) or "")

    @pytest.mark.parametrize("value", [None, "", {"Statement": []}, '{"Statement": []}'])
    def test_absent_or_valid_is_no_error(self, value: object) -> None:
        assert docs.document_error(value) is None


class TestStatements:
    def test_always_a_list(self) -> None:
        single = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
        assert docs.statements({"Statement": single}) == [single]
        assert docs.statements({"Statement": [single, "junk"]}) == [single]
        assert docs.statements({}) == []
        assert docs.statements(None) == []

    def test_proxied_document(self) -> None:
        proxied = unknown_checking_proxy({"Statement": [{"Effect": "Allow", "Sid": "A"}]})
        (statement,) = docs.statements(proxied)
        assert docs.is_allow(statement)
        assert docs.statement_label(statement, 0) == "statement 'A'"

    def test_label_without_sid(self) -> None:
        assert docs.statement_label({"Effect": "Allow"}, 2) == "statement #3 (no Sid)"

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(None, []), ("a", ["a"]), (["a", "b"], ["a", "b"]), ({"k": 1}, [{"k": 1}]), (1, [1])],
    )
    def test_as_list(self, value: object, expected: list[object]) -> None:
        assert docs.as_list(value) == expected


class TestPrincipals:
    @pytest.mark.parametrize(
        "principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::111122223333:root", "*"]}]
    )
    def test_public(self, principal: object) -> None:
        assert docs.is_public_principal({"Principal": principal})

    def test_not_principal_is_public(self) -> None:
        assert docs.is_public_principal({"NotPrincipal": {"AWS": "arn:aws:iam::1:root"}})

    def test_named_principals_are_not_public(self) -> None:
        statement = {"Principal": {"AWS": ["arn:aws:iam::111122223333:root"], "Service": "x"}}
        assert not docs.is_public_principal(statement)
        assert docs.principal_values(statement, "aws") == ["arn:aws:iam::111122223333:root"]

    def test_service_principals_lowercased(self) -> None:
        statement = {"Principal": {"Service": ["Bedrock.amazonaws.com", "lambda.amazonaws.com"]}}
        assert docs.service_principals(statement) == [
            "bedrock.amazonaws.com",
            "lambda.amazonaws.com",
        ]

    @pytest.mark.parametrize(
        ("principal", "account"),
        [
            ("arn:aws:iam::111122223333:root", "111122223333"),
            ("arn:aws-us-gov:iam::111122223333:root", "111122223333"),
            ("111122223333", "111122223333"),
            ("arn:aws:iam::111122223333:role/admin", None),
            ("arn:aws:iam::*:root", None),
            ("*", None),
        ],
    )
    def test_account_root(self, principal: str, account: str | None) -> None:
        assert docs.account_of_root(principal) == account


class TestActions:
    @pytest.mark.parametrize("action", ["*", "s3:*", "KMS:*", "iam:**"])
    def test_wildcard_actions(self, action: str) -> None:
        assert docs.is_wildcard_action(action)

    @pytest.mark.parametrize("action", ["s3:GetObject", "s3:Get*", "iam:Pass*", ":*"])
    def test_not_wildcard_actions(self, action: str) -> None:
        assert not docs.is_wildcard_action(action)

    @pytest.mark.parametrize("action", ["iam:PassRole", "IAM:passrole", "iam:Pass*", "iam:*", "*"])
    def test_allows_action_case_insensitive_with_wildcards(self, action: str) -> None:
        assert docs.allows_action({"Action": action}, "iam:PassRole")

    def test_not_action_allows_everything_else(self) -> None:
        assert docs.allows_action({"NotAction": "s3:*"}, "iam:PassRole")
        assert not docs.allows_action({"NotAction": ["iam:*"]}, "iam:PassRole")

    def test_question_mark_and_literal_brackets(self) -> None:
        assert docs.wildcard_match("s3:GetObjec?", "s3:getobject")
        assert not docs.wildcard_match("s3:[G]etObject", "s3:GetObject")

    def test_aws_managed_policy_arns(self) -> None:
        assert docs.is_aws_managed_policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        assert docs.is_aws_managed_policy_arn(
            "arn:aws-cn:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        )
        assert not docs.is_aws_managed_policy_arn("arn:aws:iam::111122223333:policy/mine")
        assert not docs.is_aws_managed_policy_arn(None)


class TestConditions:
    def test_values_under_any_operator_case_insensitive(self) -> None:
        statement = {
            "Condition": {
                "StringEquals": {"AWS:SourceAccount": "111122223333"},
                "ArnLike": {"aws:SourceArn": ["a", "b"]},
            }
        }
        assert docs.condition_values(statement, "aws:sourceaccount") == ["111122223333"]
        assert docs.condition_values(statement, "aws:SourceArn") == ["a", "b"]
        assert docs.condition_values(statement, "aws:SourceArn", "StringEquals") is None
        assert docs.condition_values(statement, "aws:PrincipalArn") is None

    def test_no_condition_block(self) -> None:
        assert docs.conditions({"Condition": "junk"}) == []


class TestCommon:
    def test_get_is_tolerant(self) -> None:
        props = unknown_checking_proxy({"a": {"b": [{"c": 1}]}})
        assert get(props, "a", "b", 0, "c") == 1
        assert get(props, "a", "x", default="d") == "d"
        assert get(props, "a", "b", 5) is None
        assert get("not a mapping", "a") is None

    def test_numbers_and_bools(self) -> None:
        assert as_number(30.0) == 30
        assert as_number("7") == 7
        assert as_number(True) is None
        assert as_bool("true") is True
        assert as_bool("False") is False
        assert as_bool("yes") is None

    def test_decode_json_leaves_plain_strings(self) -> None:
        assert decode_json('["111122223333"]') == ["111122223333"]
        assert decode_json("111122223333") == "111122223333"
        assert decode_json("[not json") == "[not json"
        assert string_list('["a", ""]') == ["a"]

    def test_provider_props_as_json_strings(self) -> None:
        assert provider_default_tags(provider()) == DEFAULT_TAGS
        assert provider_allowed_accounts(provider()) == ["111122223333"]

    def test_provider_props_as_mappings(self) -> None:
        dict_provider = provider(
            props={"defaultTags": {"tags": {"Project": "rft-env"}}, "allowedAccountIds": ["1"]}
        )
        assert provider_default_tags(dict_provider) == {"Project": "rft-env"}
        assert provider_allowed_accounts(dict_provider) == ["1"]

    def test_provider_without_props(self) -> None:
        bare = provider(props={})
        assert provider_default_tags(bare) == {}
        assert provider_allowed_accounts(bare) is None
        assert provider_default_tags(None) == {}
