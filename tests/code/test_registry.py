"""GTO's tag grammar, semantic-version order and model references (no repository needed)."""

import re

import pytest

from graft.core.errors import UsageError
from graft.project.settings import parse_settings
from graft.release.registry import (
    Action,
    ModelRef,
    ParsedTag,
    RegistryError,
    SemVer,
    parse_ref,
    parse_tag_name,
    version_key,
)


@pytest.mark.parametrize(
    ("tag", "parsed"),
    [
        ("adult-income@v1.2.3", ParsedTag(Action.REGISTER, "adult-income", version="v1.2.3")),
        ("adult-income@v1.2.3#4", ParsedTag(Action.REGISTER, "adult-income", version="v1.2.3", counter=4)),
        ("adult-income@v1.2.3!", ParsedTag(Action.DEREGISTER, "adult-income", version="v1.2.3")),
        ("adult-income@v1.2.3!#7", ParsedTag(Action.DEREGISTER, "adult-income", version="v1.2.3", counter=7)),
        ("adult-income#prod#3", ParsedTag(Action.ASSIGN, "adult-income", stage="prod", counter=3)),
        ("adult-income#prod", ParsedTag(Action.ASSIGN, "adult-income", stage="prod")),
        ("adult-income#prod!#5", ParsedTag(Action.UNASSIGN, "adult-income", stage="prod", counter=5)),
        ("adult-income@deprecated", ParsedTag(Action.DEPRECATE, "adult-income")),
        ("adult-income@deprecated#9", ParsedTag(Action.DEPRECATE, "adult-income", counter=9)),
        # GTO's artifact names: DIR:NAME is written DIR=NAME in tags; names may hold '/' and '_'
        ("models/x=churn_v2@v0.1.0", ParsedTag(Action.REGISTER, "models/x:churn_v2", version="v0.1.0")),
        ("Nested/Name#canary-eu#1", ParsedTag(Action.ASSIGN, "Nested/Name", stage="canary-eu", counter=1)),
        ("m@v1.0.0-rc.1+build.5", ParsedTag(Action.REGISTER, "m", version="v1.0.0-rc.1+build.5")),
    ],
)
def test_every_gto_tag_form_is_read(tag, parsed):
    assert parse_tag_name(tag) == parsed


@pytest.mark.parametrize(
    "tag",
    [
        "v1.2.3",  # a plain version tag
        "adult-income@1.2.3",  # GTO versions carry a 'v'
        "adult-income@v1.2",
        "adult-income@v01.2.3",  # leading zeros are not semantic versions
        "adult-income#prod#",
        "adult-income#-prod",
        "-model@v1.0.0",
        "adult-income@created",  # GTO's grammar has it, but no GTO command writes it
        "release-2024",
    ],
)
def test_other_tags_are_not_registry_events(tag):
    assert parse_tag_name(tag) is None


def test_semantic_versions_order_by_precedence():
    ordered = ["v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta.2", "v1.0.0-beta.11"]
    ordered += ["v1.0.0-rc.1", "v1.0.0", "v1.2.0", "v1.10.0", "v2.0.0"]
    assert sorted(reversed(ordered), key=SemVer) == ordered
    assert SemVer("v1.0.0+build.1") == SemVer("v1.0.0")
    # commit-named versions (stage tags at an unregistered commit) sort below every semantic version
    assert sorted(["v0.0.1", "0" * 40, "v1.0.0"], key=version_key) == ["0" * 40, "v0.0.1", "v1.0.0"]
    with pytest.raises(RegistryError, match=r"'1\.0\.0' is not a semantic version"):
        SemVer("1.0.0")


@pytest.mark.parametrize(
    ("args", "ref"),
    [
        (("adult-income@v1.2.0",), ModelRef("adult-income", version="v1.2.0")),
        (("adult-income#prod",), ModelRef("adult-income", stage="prod")),
        (("adult-income#prod#12",), ModelRef("adult-income", stage="prod")),  # a pushed stage tag
        (("adult-income@latest",), ModelRef("adult-income", latest=True)),
        (("adult-income",), ModelRef("adult-income")),
        (("adult-income", "1.2.0"), ModelRef("adult-income", version="v1.2.0")),
        ((None, None, "prod"), ModelRef(None, stage="prod")),
        (("adult-income", None, "staging"), ModelRef("adult-income", stage="staging")),
    ],
)
def test_model_references(args, ref):
    assert parse_ref(*args) == ref


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("adult-income@v1.2.0", None, "prod"), "--stage prod given as well as 'adult-income@v1.2.0'"),
        (("adult-income#prod", "1.0.0"), "--version 1.0.0 given as well as 'adult-income#prod'"),
        (("adult-income@1.2.0",), "'adult-income@1.2.0' is not MODEL, MODEL@vX.Y.Z"),
        (("adult-income@v1.2.0!",), "is a GTO deregister tag"),
        (("adult-income@deprecated",), "is a GTO deprecate tag"),
        (("adult income",), "'adult income' is not a model name"),
        (("m", "one"), "--version: 'vone' is not a semantic version"),
    ],
)
def test_bad_references_are_usage_errors_naming_them(args, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_ref(*args)


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        (["prod", "pre prod"], "stage 'pre prod' cannot be written in a GTO tag"),
        (["prod", "-x"], "stage '-x' cannot be written in a GTO tag"),
        (["prod", "prod"], "stage names must be distinct"),
    ],
)
def test_stage_names_in_graft_yaml_must_fit_gto_tags(stages, message):
    with pytest.raises(Exception, match=message) as info:
        parse_settings({"stages": stages}, {})
    assert "graft.yaml: 'stages'" in str(info.value)


def test_one_semver_type_parses_and_bumps():
    assert SemVer.of("1.2.3-rc.1+b.5").core == (1, 2, 3)
    assert SemVer.of("1.2.3-rc.1").bump("patch").number == "1.2.4"
    assert [SemVer.of("1.2.3").bump(b).text for b in ("major", "minor", "patch")] == [
        "v2.0.0",
        "v1.3.0",
        "v1.2.4",
    ]
    assert [SemVer.first(b).number for b in ("major", "minor", "patch")] == ["1.0.0", "0.1.0", "0.0.1"]
    with pytest.raises(RegistryError, match=r"'v1\.2' is not a semantic version"):
        SemVer.of("1.2")


def test_the_tags_graft_writes_are_the_tags_it_reads():
    """A DIR:NAME artifact is spelt DIR=NAME in every tag graft writes, and read back as DIR:NAME."""
    from graft.release.tags import parse_version_tag, stage_tag, version_tag

    assert version_tag("models/x:churn", "1.0.0") == "models/x=churn@v1.0.0"
    assert stage_tag("models/x:churn", "prod", 3) == "models/x=churn#prod#3"
    assert parse_tag_name(version_tag("models/x:churn", "1.0.0")) == ParsedTag(
        Action.REGISTER, "models/x:churn", version="v1.0.0"
    )
    assert parse_tag_name(stage_tag("models/x:churn", "prod", 3)) == ParsedTag(
        Action.ASSIGN, "models/x:churn", stage="prod", counter=3
    )
    assert parse_version_tag("models/x=churn@v1.0.0") == ("models/x:churn", "1.0.0")
    assert parse_version_tag("churn#prod#1") is None


@pytest.mark.parametrize(
    ("number", "valid"),
    [("1.2.3", True), ("0.0.0+g0123abcd", True), ("1.0.0-rc.1", True), ("1.0", False), ("01.0.0", False)],
)
def test_package_versions_are_checked_by_the_same_semver_rule(number, valid):
    from graft.release.tags import is_semver

    assert is_semver(number) is valid
    assert (SemVer.of(number).number == number) if valid else not is_semver(number)
