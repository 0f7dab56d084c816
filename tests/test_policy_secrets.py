"""SECRET-ENV-LITERAL on the non-interpolated model: literal forms, references, near-misses."""

import pytest

from gantry.policy.secrets import has_literal, is_secret_name
from tests.policy_cases import fired, run

RULE = "SECRET-ENV-LITERAL"


def env_fired(environment, **kwargs):
    return fired(RULE, {"image": "a:1"}, raw={"image": "a:1", "environment": environment}, **kwargs)


CASES = [
    ("password-literal", {"DB_PASSWORD": "hunter2"}, ["DB_PASSWORD"]),
    ("list-form", ["DB_PASSWORD=hunter2"], ["DB_PASSWORD"]),
    ("lower-key", {"db_password": "hunter2"}, ["db_password"]),
    ("passwd", {"MYSQL_ROOT_PASSWD": "x"}, ["MYSQL_ROOT_PASSWD"]),
    ("passphrase", {"GPG_PASSPHRASE": "x"}, ["GPG_PASSPHRASE"]),
    ("secret", {"SECRET_KEY_BASE": "abc"}, ["SECRET_KEY_BASE"]),
    ("token", {"API_TOKEN": "abc"}, ["API_TOKEN"]),
    ("api-key", {"STRIPE_API_KEY": "sk_live"}, ["STRIPE_API_KEY"]),
    ("apikey", {"APIKEY": "abc"}, ["APIKEY"]),
    ("private-key", {"JWT_PRIVATE_KEY": "-----BEGIN"}, ["JWT_PRIVATE_KEY"]),
    ("access-key", {"AWS_SECRET_ACCESS_KEY": "abc", "AWS_ACCESS_KEY_ID": "AKIA"},
     ["AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"]),
    ("encryption-key", {"ENCRYPTION_KEY": "abc"}, ["ENCRYPTION_KEY"]),
    ("credential", {"GOOGLE_CREDENTIALS": "{}x"}, ["GOOGLE_CREDENTIALS"]),
    ("suffix-pass", {"SMTP_PASS": "x"}, ["SMTP_PASS"]),
    ("suffix-pwd", {"DB_PWD": "x"}, ["DB_PWD"]),
    ("suffix-salt", {"HASH_SALT": "x"}, ["HASH_SALT"]),
    ("suffix-dsn", {"SENTRY_DSN": "https://k@sentry.io/1"}, ["SENTRY_DSN"]),
    ("default-is-literal", {"DB_PASSWORD": "${DB_PASSWORD:-changeme}"}, ["DB_PASSWORD"]),
    ("dash-default-is-literal", {"DB_PASSWORD": "${DB_PASSWORD-changeme}"}, ["DB_PASSWORD"]),
    ("text-around-ref", {"DB_PASSWORD": "pre${X}"}, ["DB_PASSWORD"]),
    ("number-literal", {"DB_PASSWORD": 12345678}, ["DB_PASSWORD"]),
    ("url-credentials", {"DATABASE_URL": "postgres://app:s3cret@db:5432/app"}, ["DATABASE_URL"]),
    ("url-credentials-list", ["REDIS_URL=redis://default:pw@redis:6379"], ["REDIS_URL"]),
    ("url-in-default", {"DATABASE_URL": "${DATABASE_URL:-postgres://app:pw@db/app}"}, ["DATABASE_URL"]),
    # near-misses
    ("reference", {"DB_PASSWORD": "${DB_PASSWORD}"}, []),
    ("bare-reference", {"DB_PASSWORD": "$DB_PASSWORD"}, []),
    ("required-reference", {"DB_PASSWORD": "${DB_PASSWORD:?set it in secrets}"}, []),
    ("empty-default", {"DB_PASSWORD": "${DB_PASSWORD:-}"}, []),
    ("nested-default-ref", {"DB_PASSWORD": "${DB_PASSWORD:-${FALLBACK}}"}, []),
    ("pass-through-list", ["DB_PASSWORD"], []),
    ("pass-through-map", {"DB_PASSWORD": None}, []),
    ("empty", {"DB_PASSWORD": ""}, []),
    ("file-suffix", {"DB_PASSWORD_FILE": "/run/secrets/db"}, []),
    ("flag-value", {"ALLOW_EMPTY_PASSWORD": "yes"}, []),
    ("flag-bool", {"POSTGRES_HOST_AUTH_TOKEN_ENABLED": True}, []),
    ("quantity-expire", {"TOKEN_EXPIRE_MINUTES": "30"}, []),
    ("quantity-max-tokens", {"LLM_MAX_TOKENS": "4096"}, []),
    ("quantity-min-length", {"PASSWORD_MIN_LENGTH": "12"}, []),
    ("not-secret-name", {"APP_VERSION": "1", "PASSENGER_COUNT": "3"}, []),
    ("url-without-credentials", {"DATABASE_URL": "postgres://db:5432/app"}, []),
    ("url-user-only", {"DATABASE_URL": "postgres://app@db/app"}, []),
    ("url-password-ref", {"DATABASE_URL": "postgres://app:${DB_PASSWORD}@db/app"}, []),
]


@pytest.mark.parametrize("environment,keys", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_secrets_env_literal(environment, keys):
    assert env_fired(environment) == [(f"environment.{k}", "error") for k in sorted(keys)]


def test_secrets_env_literal_is_warn_at_dev():
    assert env_fired({"DB_PASSWORD": "x"}, level="dev") == [("environment.DB_PASSWORD", "warn")]


def test_secrets_message_never_holds_the_value():
    report = run({"image": "a:1"}, raw={"environment": {"DB_PASSWORD": "hunter2-canary",
                                                         "DATABASE_URL": "pg://u:canary-pw@h/d"}})
    texts = [str(f) for f in report.findings]
    assert len([f for f in report.findings if f.rule == RULE]) == 2
    assert not any("canary" in t for t in texts)


def test_secrets_reads_raw_model_not_interpolated():
    # interpolated model has the resolved value; the raw model shows it came from a variable
    report = run({"image": "a:1", "environment": {"DB_PASSWORD": "x"}},
                 raw={"image": "a:1", "environment": ["DB_PASSWORD=${DB_PASSWORD}"]})
    assert [f for f in report.findings if f.rule == RULE] == []


def test_secrets_skipped_without_raw_model():
    from gantry.policy import PolicySettings, check_policy
    from tests.policy_cases import TODAY
    model = {"services": {"s": {"image": "a:1", "environment": {"DB_PASSWORD": "x"}}}}
    report = check_policy(model, None, PolicySettings(), today=TODAY)
    assert not [f for f in report.findings if f.rule == RULE]


@pytest.mark.parametrize("template,want", [
    ("abc", True), ("${X}", False), ("$X", False), ("${X}${Y}", False), (" ${X} ", False),
    ("${X:-d}", True), ("${X-d}", True), ("${X:+alt}", True), ("${X:?msg}", False), ("${X?msg}", False),
    ("${X:-${Y}}", False), ("${X:-${Y:-z}}", True), ("$$", True), ("${X", True), ("$", True),
], ids=["plain", "ref", "bare-ref", "two-refs", "spaces", "default", "dash-default", "alt", "required",
        "required-no-colon", "nested-ref", "nested-default", "escaped-dollar", "unclosed", "lone-dollar"])
def test_secrets_has_literal(template, want):
    assert has_literal(template) is want


@pytest.mark.parametrize("key,want", [
    ("DB_PASSWORD", True), ("PASSWORD", True), ("GITHUB_TOKEN", True), ("SMTP_PASS", True), ("PASS", False),
    ("PASSPORT_ID", False), ("DB_PASSWORD_FILE", False), ("JWT_TOKEN_TTL", False), ("SENTRY_DSN", True),
    ("DSN_HOST", False), ("SALT_ROUNDS", False),
], ids=lambda v: str(v))
def test_secrets_is_secret_name(key, want):
    assert is_secret_name(key) is want
