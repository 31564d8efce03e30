"""A corpus of realistic secrets and of game words that look like them, for the leak tests.

Each ``Leak`` is a string as a game or web payload would carry it, and the secret parts that must
never be written. Each ``Benign`` is text that must come out exactly as it went in. ``KeyedLeak``
and ``KeyedBenign`` are a mapping key and its value.
"""

from __future__ import annotations

import base64
import random
import string
from dataclasses import dataclass


@dataclass(frozen=True)
class Leak:
    kind: str
    text: str
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class KeyedLeak:
    key: str
    value: str


@dataclass(frozen=True)
class Benign:
    text: str


@dataclass(frozen=True)
class KeyedBenign:
    key: str
    value: object


_rnd = random.Random(1010)
ALNUM = string.ascii_letters + string.digits
UPPER32 = string.ascii_uppercase + "234567"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"


def tok(length: int, alphabet: str = ALNUM) -> str:
    return "".join(_rnd.choice(alphabet) for _ in range(length))


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "".join(_rnd.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        digits = body + check
        total = 0
        for index, char in enumerate(reversed(digits)):
            digit = int(char) * (2 if index % 2 else 1)
            total += digit - 9 if digit > 9 else digit
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


def jwt() -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    body = base64.urlsafe_b64encode(
        f'{{"sub":"player-{tok(6)}","exp":1764000000}}'.encode()
    ).decode()
    return f"{header}.{body.rstrip('=')}.{tok(43, URLSAFE)}"


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def pem(kind: str, lines: int = 6) -> str:
    body = "\n".join(tok(64, B64) for _ in range(lines))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"


def _leaks() -> list[Leak]:
    out: list[Leak] = []

    def add(kind: str, text: str, *secrets: str) -> None:
        out.append(Leak(kind, text, secrets))

    # -- Authorization schemes ------------------------------------------------------------------
    for template in (
        "Authorization: Bearer {}",
        "authorization: bearer {}",
        "BEARER {}",
        "curl -H 'Authorization: Bearer {}' https://api.example.com",
        '{{"headers": {{"Authorization": "Bearer {}"}}}}',
        "Bearer\t{}",
        "xBearer {}",
    ):
        secret = tok(32, URLSAFE + ".~")
        add("bearer", template.format(secret), secret)
    for user, password in (("admin", "hunter2x"), ("gm", "Dr4g0n!"), ("bot", "pa55 word")):
        encoded = basic(user, password)
        add("basic", f"Authorization: Basic {encoded}", encoded)
        add("basic", f"basic {encoded} sent", encoded)
    for template in ("Authorization: Token {}", "Token {}", "token {} (expires)"):
        secret = tok(40, string.hexdigits.lower())
        add("token", template.format(secret), secret)

    # -- JSON Web Tokens, whatever precedes them ------------------------------------------------
    for template in (
        "{}",
        "session {} ok",
        "session_{}",
        "jwt-{}",
        "x{}",
        "7{}",
        "/login%3Fnext%3D%2F%3Ftoken%3D{}",
        "https://game.example.com/cb#id_token={}&state=1",
        '"{}"',
        "Cookie-less token:{}",
        "sid={}; Path=/",
        "t={}",
    ):
        secret = jwt()
        add("jwt", template.format(secret), secret, secret.split(".")[2])

    # -- private keys --------------------------------------------------------------------------
    for kind in (
        "RSA PRIVATE KEY",
        "PRIVATE KEY",
        "EC PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "DSA PRIVATE KEY",
        "PGP PRIVATE KEY BLOCK",
    ):
        block = pem(kind)
        add("pem", f"key file:\n{block}\ndone", block.split("\n")[2])
    clipped = pem("RSA PRIVATE KEY").rsplit("\n", 2)[0]
    add("pem", f"prefix {clipped}", clipped.split("\n")[3])

    # -- credentials in URLs and query strings --------------------------------------------------
    for template in (
        "postgres://admin:{}@db.example.com:5432/game",
        "mysql://root:{}@127.0.0.1/saves",
        "redis://:{}@cache:6379/0",
        "amqp://guest:{}@mq.internal/vhost",
        "https://deploy:{}@git.example.com/repo.git",
        "ftp://anon:{}@files.example.com/pub",
        "DATABASE_URL=postgresql://u:{}@host/db",
    ):
        secret = tok(14)
        add("url", template.format(secret), secret)
    for template in (
        "https://api.example.com/v1/save?token={}",
        "https://api.example.com/v1/save?slot=2&api_key={}",
        "/oauth/callback?code=abc&access_token={}&state=xyz",
        "https://x.example.com/?password={}&user=bob",
        "/play?sessionId={}",
        "/index.php?PHPSESSID={}",
        "/auth?client_secret={}&grant_type=client_credentials",
        "/r?x=1;auth_token={}",
        "https%3A%2F%2Fexample.com%2F%3Ftoken%3D{}%26a%3D1",
        "username=bob&password={}&remember=1",
        "grant_type=refresh_token&refresh_token={}",
    ):
        secret = tok(20)
        add("query", template.format(secret), secret)

    # -- cookies --------------------------------------------------------------------------------
    for template in (
        "Cookie: sid={}; theme=dark",
        "Set-Cookie: session={}; Path=/; HttpOnly",
        "cookie: connect.sid=s%3A{}.sig",
        "GET / HTTP/1.1\r\nHost: game\r\nCookie: _ga=1; auth={}\r\n",
    ):
        secret = tok(24)
        add("cookie", template.format(secret), secret)

    # -- name: value and name=value in free text ------------------------------------------------
    for template in (
        "password: {}",
        "Password={}",
        "pwd={}",
        '{{"token": "{}"}}',
        "{{'password': '{}'}}",
        "DB_PASSWORD={}",
        "export API_KEY={}",
        "api-key: {}",
        "secret={}",
        "client_secret: {}",
        "x-api-key:{}",
        "passwd = {}",
        'user.password="{}"',
        "SESSION_ID={}",
        "otp: {}",
        "authToken={}",
        "newpassword={}",
        "credentials: {}",
        '{{\\"password\\": \\"{}\\"}}',
        "login failed for bob (password={})",
    ):
        secret = tok(12)
        add("key-value", template.format(secret), secret)
    for template, secret in (
        ("pin=4821", "4821"),
        ("PIN: 9637", "9637"),
        ("ssn: 078-05-1120", "078-05-1120"),
        ("cvv=737", "737"),
        ("CVC: 9134", "9134"),
        ("iban: DE89370400440532013000", "DE89370400440532013000"),
        ("passphrase: 'correct horse battery staple'", "correct horse battery staple"),
        ('password: "two words"', "two words"),
    ):
        add("key-value", template, secret)

    # -- "my password is ..." -------------------------------------------------------------------
    for template in (
        "my password is {}",
        "The password is {} now",
        "PASSWORD IS {}",
        "your new passwd is {}.",
        "pwd is {}",
        "passwords is {}",
    ):
        secret = tok(10)
        add("is", template.format(secret), secret)
    add("is", "my pin is 5810", "5810")
    add("is", "the passphrase is 'open sesame now'", "open sesame now")

    # -- vendor tokens --------------------------------------------------------------------------
    def vendor(kind: str, secret: str, *contexts: str) -> None:
        for context in contexts or ("leaked {} here",):
            add(kind, context.format(secret), secret)

    for prefix in ("AKIA", "ASIA", "ABIA", "ACCA"):
        vendor("aws", prefix + tok(16, UPPER32), "aws_access_key_id={}", "id {} ok")
    aws_secret = tok(40, ALNUM + "/+")
    vendor("aws", aws_secret, "aws_secret_access_key = {}", "AWS secret key: {}")
    vendor("aws", tok(40, ALNUM + "/+"), 'AWS_SECRET="{}"')
    vendor("aws", tok(40, ALNUM + "/+"), "aws secret {}")
    for prefix in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"):
        vendor("github", prefix + tok(36), "GITHUB_TOKEN={}", "push with {} failed")
    vendor("github", "github_pat_" + tok(22) + "_" + tok(59), "token:{}")
    vendor("gitlab", "glpat-" + tok(20, URLSAFE), "git clone https://oauth2:{}@gitlab.com/x")
    vendor("gitlab", "glpat-" + tok(20, URLSAFE), "CI uses {}")
    vendor("gitlab", "glptt-" + tok(40, string.hexdigits.lower()))
    vendor("gitlab", "gldt-" + tok(20, URLSAFE))
    vendor("gitlab", "GR1348941" + tok(20, URLSAFE))
    vendor("slack", f"xoxb-{tok(11, string.digits)}-{tok(12, string.digits)}-{tok(24)}")
    vendor("slack", f"xoxp-{tok(11, string.digits)}-{tok(11, string.digits)}-{tok(32)}")
    vendor("slack", f"xapp-1-A{tok(10, UPPER32)}-{tok(13, string.digits)}-{tok(64)}")
    vendor(
        "slack",
        f"services/T{tok(8, UPPER32)}/B{tok(8, UPPER32)}/{tok(24)}",
        "webhook https://hooks.slack.com/{}",
    )
    vendor("stripe", "sk_live_" + tok(24), "STRIPE_KEY={}", "charge with {}")
    vendor("stripe", "rk_live_" + tok(24))
    vendor("stripe", "sk_test_" + tok(99))
    vendor("stripe", "whsec_" + tok(32))
    vendor("google", "AIza" + tok(35, URLSAFE), "maps?key={}", "GOOGLE_API_KEY {}")
    vendor("google", "GOCSPX-" + tok(28, URLSAFE))
    vendor("google", "ya29." + tok(120, URLSAFE))
    vendor("openai", "sk-proj-" + tok(74, URLSAFE) + "T3BlbkFJ" + tok(74, URLSAFE))
    vendor("openai", "sk-" + tok(20) + "T3BlbkFJ" + tok(20), "OPENAI_API_KEY={}", "use {}")
    vendor("openai", "sk-svcacct-" + tok(58, URLSAFE) + "T3BlbkFJ" + tok(58, URLSAFE))
    vendor("npm", "npm_" + tok(36), "//registry.npmjs.org/:_authToken={}", "npm {}")
    vendor("discord", f"M{tok(23, URLSAFE)}.{tok(6, URLSAFE)}.{tok(27, URLSAFE)}", "bot {}")
    vendor("discord", f"N{tok(25, URLSAFE)}.{tok(6, URLSAFE)}.{tok(38, URLSAFE)}")
    vendor("discord", f"O{tok(24, URLSAFE)}.{tok(6, URLSAFE)}.{tok(27, URLSAFE)}", "x{}y")

    # -- payment cards --------------------------------------------------------------------------
    for prefix, length in (
        ("4", 16),
        ("4", 13),
        ("4", 19),
        ("51", 16),
        ("2221", 16),
        ("2720", 16),
        ("34", 15),
        ("37", 15),
        ("6011", 16),
        ("65", 16),
        ("3530", 16),
        ("36", 14),
        ("62", 16),
        ("62", 19),
        ("5018", 16),
    ):
        number = luhn_complete(prefix, length)
        add("card", f"card {number} exp 12/29", number)
    number = luhn_complete("4", 16)
    spaced = " ".join(number[i : i + 4] for i in range(0, 16, 4))
    add("card", f"paid with {spaced}.", spaced)
    dashed = "-".join(number[i : i + 4] for i in range(0, 16, 4))
    add("card", f"cc={dashed}", dashed)
    amex = luhn_complete("37", 15)
    add("card", f"Amex {amex[:4]} {amex[4:10]} {amex[10:]}", f"{amex[:4]} {amex[4:10]} {amex[10:]}")
    add("card", "4242424242424242", "4242424242424242")
    add("card", "order paid: 5555555555554444 thanks", "5555555555554444")
    return out


def _keyed() -> list[KeyedLeak]:
    keys = (
        "password",
        "userPassword",
        "password_confirmation",
        "PASSWORD",
        "x-api-key",
        "apiKey",
        "refresh_token",
        "Authorization",
        "credentials",
        "sessionId",
        "PHPSESSID",
        "connect.sid",
        "card_pin",
        "pin_code",
        "newpassword",
        "AWS_SECRET_ACCESS_KEY",
        "DBPASSWORD",
        "accesstoken",
        "clientsecret",
        "authtoken",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "api_key",
        "access_key",
        "privateKey",
        "secret_key",
        "signingKey",
        "encryption_key",
        "licenseKey",
        "client_secret",
        "auth",
        "cookie",
        "session_token",
        "session_key",
        "sid",
        "pin",
        "otp",
        "ssn",
        "cvv",
        "cvc",
        "card_number",
        "iban",
        "password_hash",
        "OAuthToken",
        "X-Auth-Token",
        "passWord",
        "x_apikey",
        "user.password",
        "db-password2",
        "password_again",
        "old_pin",
        "tokens",
        "Set-Cookie",
        "hasSecret",
        "JSESSIONID",
        "csrf_token",
        "otp_code",
        "cardNumber",
    )
    return [KeyedLeak(key, f"v{tok(10)}") for key in keys]


def _benign() -> list[Benign]:
    texts = (
        "the bearer of bad news",
        "Basic training",
        "Token of Power",
        "the secret is hidden behind the falls",
        "76561198000000000",
        "steam:76561197960287930",
        "spin the wheel",
        "inside the castle",
        "oauth provider",
        "You found the Token of Power!",
        "The bearer bonds are in the vault",
        "Basic attack deals 12 damage",
        "go north",
        "take the secret key from the altar",
        "cookies eaten: 3",
        "token count: 5",
        "auth level: 3",
        "score=1200",
        "hp: 10/10",
        "door: open",
        "turn 42: player moves",
        "timestamp 1764000000000",
        "phone 555-0100",
        "order #123456789012",
        "id 12345678901234567890",
        "invoice 1234567890123",
        "passage to the north",
        "the secretary of the guild",
        "keyboard shortcuts: WASD",
        "pin the map to the wall",
        "password reset email sent",
        "https://example.com/map?level=3&zone=north",
        "http://localhost:8080/play",
        "eyJust kidding",
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcD\n-----END PUBLIC KEY-----",
        "Cookie Monster",
        "a fortune cookie",
        "The Basic Cookbook",
        "bearer: the king's messenger",
        "hasSecret: true",
        "password: null",
        "core:go",
        "look at the spinning top",
        "the pinnacle of the tower",
        "secret_door opened",
        "You whisper the secret word.",
        "sk-1 is a skill slot",
        "AKIA is not a key",
        "glpat",
        "the token is shiny",
        "Basic potion of healing",
        "a token of gratitude from the innkeeper",
        "wave 13 of 20",
        "gold: 4111",
        "coordinates 4111 1111",
        "build 2026.11.24-rc1",
        "trace 0af7651916cd43dd8448eb211c80319c",
    )
    return [Benign(text) for text in texts]


def _keyed_benign() -> list[KeyedBenign]:
    pairs: tuple[tuple[str, object], ...] = (
        ("secret_door", "north wall"),
        ("secretPassage", "behind the falls"),
        ("auth_level", 3),
        ("token_count", 12),
        ("cookies_eaten", 7),
        ("hasSecret", True),
        ("has_password", False),
        ("password", None),
        ("author", "Ann"),
        ("authority", "the crown"),
        ("username", "bob"),
        ("secretary", "Clerk"),
        ("passage", "narrow"),
        ("keyboard", "qwerty"),
        ("session_count", 4),
        ("sessionStart", 1764000000000),
        ("passwordless", True),
        ("password_reset_sent", "yes"),
        ("password_hint", "your first pet"),
        ("tokenizer", "words"),
        ("keyCount", 3),
        ("apiKeyId", "key-7"),
        ("spin", 2),
        ("inside", "tent"),
        ("oauth", "github"),
        ("secret_found", "yes"),
        ("pin_count", 9),
        ("tokens_remaining", 2),
        ("cookie_jar_size", 5),
        ("steamId", 76561198000000000),
        ("author_token_count", 1),
        ("side_quest", "fetch"),
        ("opinion", "good"),
        ("spinner", "fast"),
        ("secretive_npc", "Varis"),
    )
    return [KeyedBenign(key, value) for key, value in pairs]


LEAKS = _leaks()
KEYED_LEAKS = _keyed()
BENIGN = _benign()
KEYED_BENIGN = _keyed_benign()
