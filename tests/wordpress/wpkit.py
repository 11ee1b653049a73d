"""A real WordPress on loopback, started by the tests themselves.

Debian's `wordpress` package (installed by `scripts/ensure-wordpress.sh` when missing) runs on
PHP's built-in server against a private MariaDB (its own data folder, socket and port). The
first start on a machine builds a template under the system's temporary folder, keyed by the
packages' versions and this kit's files: a copy of the WordPress tree with a wp-config.php of
our own, and a MariaDB data folder holding an installed site with pretty permalinks. Every
later session copies the data folder and starts the two servers, which takes about a second.

`WordPress` is the handle the tests hold: its PHP helper (`wp.php`, one whole WordPress request
per call, so `shutdown` hooks fire) creates, edits, trashes, schedules and deletes posts through
WordPress's own API; `url` and `rest_url` are for HTTP. The session fixture is `wordpress`.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ENSURE_SCRIPT = REPO / "scripts" / "ensure-wordpress.sh"
PLUGIN_SOURCE = REPO / "wordpress" / "kcrush-bot"
PLUGIN = "kcrush-bot/kcrush-bot.php"
WP_SOURCE = Path("/usr/share/wordpress")
CACHE_ROOT = Path(tempfile.gettempdir()) / "kcrush-wordpress"

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-password-for-tests"
PERMALINKS = "/%year%/%monthnum%/%postname%/"
DB_NAME = DB_USER = DB_PASSWORD = "wordpress"

# A small, fast server: the data is thrown away after the session.
MARIADB_FLAGS = [
    "--skip-name-resolve",
    "--performance-schema=OFF",
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=8M",
    "--innodb-flush-log-at-trx-commit=2",
    "--character-set-server=utf8mb4",
]
START_TIMEOUT = 30.0
OPCACHE = CACHE_ROOT / "opcache"
# Compiled scripts kept on disk between the helper's runs: each run is a fresh PHP process.
PHP_OPTIONS = ["-d", "opcache.enable_cli=1", "-d", f"opcache.file_cache={OPCACHE}"]
# Raise when the way the template is built changes in a way its inputs above do not show.
TEMPLATE_VERSION = 1


# A 2x2 PNG: enough for WordPress's media library to take it as an image.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8AARAwQCgAf7gP9i18U1AAAAABJRU5ErkJggg=="
)


class WordPressError(RuntimeError):
    """The PHP helper or one of the servers failed; the message carries what it printed."""


def ensure_packages() -> None:
    """Installs the Debian packages when missing; returns at once when they are there. What
    apt-get prints goes to stderr as it happens."""
    if subprocess.run([str(ENSURE_SCRIPT)], check=False).returncode != 0:
        raise WordPressError(f"{ENSURE_SCRIPT} failed (its output is above)")


def _package_versions() -> str:
    return subprocess.run(
        [
            "dpkg-query",
            "-W",
            "-f=${Package} ${Version}\n",
            "wordpress",
            "mariadb-server",
            "php-cli",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _template_key() -> str:
    digest = hashlib.sha256(_package_versions().encode())
    digest.update(repr((TEMPLATE_VERSION, MARIADB_FLAGS, PERMALINKS, ADMIN_PASSWORD)).encode())
    for name in ("wp-config.php", "wp.php"):
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()[:16]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _die_with_parent() -> None:
    # A server must not outlive a test run that was killed: ask the kernel to kill it with us.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _wait_until(ready: Any, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise WordPressError(f"{what} exited with {process.returncode}:\n{_tail(log)}")
        if ready():
            return
        time.sleep(0.02)
    raise WordPressError(f"{what} did not start within {START_TIMEOUT} s:\n{_tail(log)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _connects(address: str | tuple[str, int]) -> bool:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family) as probe:
        try:
            probe.connect(address)
        except OSError:
            return False
        return True


@dataclass
class MariaDB:
    """A private MariaDB server: its own data folder, socket and loopback port."""

    datadir: Path
    rundir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> str:
        return str(self.rundir / "mysql.sock")

    @property
    def log(self) -> Path:
        return self.rundir / "mariadb.log"

    def start(self) -> None:
        command = [
            "/usr/sbin/mariadbd",
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--pid-file={self.rundir / 'mariadb.pid'}",
            f"--log-error={self.log}",
            f"--tmpdir={self.rundir}",
            *MARIADB_FLAGS,
        ]
        if os.geteuid() == 0:
            command.append("--user=root")
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        _wait_until(lambda: _connects(self.socket), self.process, "mariadbd", self.log)

    def sql(self, statements: str) -> None:
        subprocess.run(
            ["mariadb", "--no-defaults", "-uroot", f"--socket={self.socket}"],
            input=statements.encode(),
            capture_output=True,
            check=True,
        )

    def stop(self, *, clean: bool) -> None:
        """Stops the server: cleanly when its files will be used again, else at once."""
        if self.process is None or self.process.poll() is not None:
            return
        if clean:
            self.process.terminate()
            self.process.wait(timeout=60)
        else:
            self.process.kill()
            self.process.wait(timeout=10)


def _php_env(root: Path, session: Path, home: str) -> dict[str, str]:
    return {
        **os.environ,
        "KCRUSH_WP_ROOT": str(root),
        "KCRUSH_WP_SESSION": str(session),
        "KCRUSH_WP_HOME": home,
    }


def _session_constants(session: Path, db: MariaDB, home: str) -> dict[str, Any]:
    salt = hashlib.sha256(str(session).encode()).hexdigest()
    keys = {
        f"{name}_{kind}": f"{salt}-{name}-{kind}"
        for name in ("AUTH", "SECURE_AUTH", "LOGGED_IN", "NONCE")
        for kind in ("KEY", "SALT")
    }
    return {
        "DB_NAME": DB_NAME,
        "DB_USER": DB_USER,
        "DB_PASSWORD": DB_PASSWORD,
        "DB_HOST": f"localhost:{db.socket}",
        "DB_CHARSET": "utf8mb4",
        "DB_COLLATE": "",
        **keys,
        "WP_HOME": home,
        "WP_SITEURL": home,
        "WP_CONTENT_DIR": str(session / "wp-content"),
        "WP_CONTENT_URL": f"{home}/wp-content",
        "WP_DEBUG": True,
        "WP_DEBUG_LOG": str(session / "debug.log"),
        "WP_DEBUG_DISPLAY": False,
        # Nothing runs behind the tests' backs: cron runs when a test asks (run_cron), and
        # WordPress never calls out (update checks), only to loopback.
        "DISABLE_WP_CRON": True,
        "WP_HTTP_BLOCK_EXTERNAL": True,
        "AUTOMATIC_UPDATER_DISABLED": True,
        "WP_AUTO_UPDATE_CORE": False,
        # "local" makes application passwords available without HTTPS.
        "WP_ENVIRONMENT_TYPE": "local",
        "FS_METHOD": "direct",
    }


# Loaded before every plugin: the test machine has no mail, so mail is accepted and dropped.
MU_PLUGIN = """<?php
/* Test harness: the test machine has no mail and no way out, so WordPress sends no mail and
 * checks for no updates (which would only log warnings about the failed requests). */
add_filter( 'pre_wp_mail', '__return_true' );
foreach ( array( '_maybe_update_core', '_maybe_update_plugins', '_maybe_update_themes' ) as $check ) {
	remove_action( 'admin_init', $check );
}
foreach ( array( 'load-plugins.php', 'load-update.php', 'load-update-core.php', 'load-themes.php' ) as $screen ) {
	remove_action( $screen, 'wp_update_plugins' );
	remove_action( $screen, 'wp_update_themes' );
}
remove_action( 'init', 'wp_schedule_update_checks' );
add_filter( 'translations_api', function () { return array( 'translations' => array() ); } );
/* A test may give posts the public address the bot keeps (KCRUSH_TEST_PUBLIC_URL, e.g.
 * https://www.kcrush.com): the site itself runs on a loopback port, and the bot skips links
 * to any host but the magazine's. Only post links change; the site's own URL does not. */
if ( defined( 'KCRUSH_TEST_PUBLIC_URL' ) ) {
	add_filter(
		'post_link',
		function ( $link ) {
			return str_replace( home_url(), KCRUSH_TEST_PUBLIC_URL, $link );
		}
	);
}
/* A test may choose the HTTP transport WordPress sends with (Requests_Transport_cURL or
 * Requests_Transport_fsockopen, the one it uses on hosts without curl) by defining this. */
if ( defined( 'KCRUSH_TEST_HTTP_TRANSPORT' ) ) {
	add_action(
		'requests-requests.before_request',
		function ( &$url, &$headers, &$data, &$type, &$options ) {
			$options['transport'] = KCRUSH_TEST_HTTP_TRANSPORT;
		},
		10,
		5
	);
}
"""


def _make_session(session: Path, db: MariaDB, home: str) -> None:
    for sub in ("plugins", "mu-plugins", "themes", "uploads"):
        (session / "wp-content" / sub).mkdir(parents=True, exist_ok=True)
    (session / "wp-content" / "mu-plugins" / "kcrush-tests.php").write_text(MU_PLUGIN)
    _write_json(session / "config.json", {"constants": _session_constants(session, db, home)})


def _write_json(path: Path, value: Any) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(value, indent=1))
    os.replace(temporary, path)


def _run_helper(
    root: Path, session: Path, home: str, command: str, args: dict[str, Any], user: str
) -> Any:
    request = json.dumps({"command": command, "args": args, "user": user})
    result = subprocess.run(
        ["php", *PHP_OPTIONS, str(HERE / "wp.php")],
        input=request,
        capture_output=True,
        text=True,
        env=_php_env(root, session, home),
        timeout=120,
        check=False,
    )
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("KCRUSH-RESULT "):
            return json.loads(line.removeprefix("KCRUSH-RESULT "))
    raise WordPressError(
        f"wp.php {command} {args!r} failed (exit {result.returncode}):\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )


def _build_template(target: Path) -> None:
    """An installed site: the WordPress tree and a cleanly stopped MariaDB data folder."""
    build = target.with_name(f"{target.name}.build-{os.getpid()}")
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    # Dereference links: some point into Debian's PHP libraries by relative paths.
    shutil.copytree(WP_SOURCE, build / "www", symlinks=False, ignore_dangling_symlinks=True)
    (build / "www" / "wp-config.php").unlink()
    shutil.copy(HERE / "wp-config.php", build / "www" / "wp-config.php")

    run = build / "run"
    run.mkdir()
    install_db = [
        "mariadb-install-db",
        "--no-defaults",
        f"--datadir={build / 'db'}",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        *MARIADB_FLAGS,
    ]
    if os.geteuid() == 0:
        install_db.append("--user=root")
    subprocess.run(install_db, capture_output=True, check=True)

    db = MariaDB(build / "db", run, _free_port())
    db.start()
    try:
        db.sql(
            f"CREATE DATABASE {DB_NAME} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n"
            + "".join(
                f"CREATE USER '{DB_USER}'@'{host}' IDENTIFIED BY '{DB_PASSWORD}';\n"
                f"GRANT ALL ON {DB_NAME}.* TO '{DB_USER}'@'{host}';\n"
                for host in ("localhost", "127.0.0.1")
            )
        )
        home = "http://127.0.0.1"
        session = build / "session"
        _make_session(session, db, home)
        _run_helper(
            build / "www",
            session,
            home,
            "install",
            {
                "title": "KCrush Test Magazine",
                "admin_user": ADMIN_USER,
                "admin_password": ADMIN_PASSWORD,
                "admin_email": "admin@example.test",
                "permalink_structure": PERMALINKS,
            },
            ADMIN_USER,
        )
        # A first ordinary request writes the rewrite rules and the cron schedule.
        _run_helper(build / "www", session, home, "warm", {}, ADMIN_USER)
    finally:
        db.stop(clean=True)
    shutil.rmtree(build / "session")
    shutil.rmtree(run)
    try:
        build.rename(target)
    except OSError:  # another run finished the same template first
        shutil.rmtree(build, ignore_errors=True)


def template() -> Path:
    """The installed template for these packages and this kit, built once per machine."""
    OPCACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE_ROOT / _template_key()
    if not (target / "db").is_dir():
        with open(CACHE_ROOT / f"{target.name}.lock", "w") as lock:
            # One builder at a time; the others wait and then use what it built.
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (target / "db").is_dir():
                _build_template(target)
                _prune_templates(keep=target)
    os.utime(target)  # in use: not pruned
    return target


def _prune_templates(keep: Path) -> None:
    """Removes templates of other versions unused for a day (a running session serves its
    WordPress from its template, so a recent one may still be in use)."""
    stale = time.time() - 86400
    for old in CACHE_ROOT.iterdir():
        if old != keep and old.is_dir() and old != OPCACHE and old.stat().st_mtime < stale:
            shutil.rmtree(old, ignore_errors=True)
            old.with_name(f"{old.name}.lock").unlink(missing_ok=True)


def _utc(date: datetime | str | None) -> str | None:
    if date is None or isinstance(date, str):
        return date
    if date.tzinfo is None:
        raise ValueError("give post dates with a time zone")
    return date.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class WordPress:
    """A running WordPress: its addresses, its database and its PHP helper."""

    url: str
    root: Path
    session: Path
    db: MariaDB
    server: subprocess.Popen[bytes] | None = None
    admin_user: str = ADMIN_USER
    admin_password: str = ADMIN_PASSWORD
    extra_constants: dict[str, Any] = field(default_factory=dict)

    # -- addresses ---------------------------------------------------------------------------

    @property
    def rest_url(self) -> str:
        """The REST API's root, `<url>/wp-json/`."""
        return f"{self.url}/wp-json/"

    @property
    def posts_url(self) -> str:
        return f"{self.rest_url}wp/v2/posts"

    @property
    def content_dir(self) -> Path:
        return self.session / "wp-content"

    @property
    def debug_log(self) -> Path:
        return self.session / "debug.log"

    def read_debug_log(self) -> str:
        return self.debug_log.read_text(errors="replace") if self.debug_log.exists() else ""

    # -- the PHP helper ----------------------------------------------------------------------

    def call(self, command: str, *, user: str = ADMIN_USER, **args: Any) -> Any:
        """Runs one wp.php command as `user` (a whole WordPress request) and returns its answer."""
        return _run_helper(self.root, self.session, self.url, command, args, user)

    def eval(self, code: str) -> Any:
        """Evaluates PHP inside WordPress (`return …;`) when no command fits."""
        return self.call("eval", code=code)

    # -- posts -------------------------------------------------------------------------------

    def create_post(
        self,
        title: str,
        content: str = "",
        excerpt: str = "",
        categories: list[str | int] | None = None,
        tags: list[str | int] | None = None,
        status: str = "publish",
        password: str | None = None,
        date: datetime | None = None,
        *,
        post_type: str = "post",
        slug: str | None = None,
        user: str = ADMIN_USER,
    ) -> int:
        """Creates a post (names of missing categories and tags are created); returns its id."""
        post = self.call(
            "create_post",
            user=user,
            title=title,
            content=content,
            excerpt=excerpt,
            categories=categories,
            tags=tags,
            status=status,
            password=password,
            date_gmt=_utc(date),
            post_type=post_type,
            slug=slug,
        )
        post_id: int = post["id"]
        return post_id

    def update_post(
        self,
        post_id: int,
        *,
        title: str | None = None,
        content: str | None = None,
        excerpt: str | None = None,
        categories: list[str | int] | None = None,
        tags: list[str | int] | None = None,
        status: str | None = None,
        password: str | None = None,
        date: datetime | None = None,
        slug: str | None = None,
        user: str = ADMIN_USER,
    ) -> dict[str, Any]:
        """wp_update_post() with the fields given; returns the post as get_post() does."""
        post: dict[str, Any] = self.call(
            "update_post",
            user=user,
            id=post_id,
            title=title,
            content=content,
            excerpt=excerpt,
            categories=categories,
            tags=tags,
            status=status,
            password=password,
            date_gmt=_utc(date),
            slug=slug,
        )
        return post

    def get_post(self, post_id: int) -> dict[str, Any] | None:
        """id, type, status, title, content, excerpt, password, slug, date_gmt, modified_gmt,
        link, categories (slugs) and tags (names); None when the post does not exist."""
        post: dict[str, Any] | None = self.call("get_post", id=post_id)
        return post

    def trash(self, post_id: int) -> bool:
        return bool(self.call("trash", id=post_id))

    def untrash(self, post_id: int) -> bool:
        """Restores from the trash (as a draft, as WordPress does since 5.6)."""
        return bool(self.call("untrash", id=post_id))

    def delete(self, post_id: int) -> bool:
        """Deletes for good, skipping the trash."""
        return bool(self.call("delete", id=post_id))

    def publish(self, post_id: int) -> dict[str, Any]:
        """wp_publish_post(): what "Publish" does to a draft or a scheduled post."""
        post: dict[str, Any] = self.call("publish", id=post_id)
        return post

    def run_cron(self) -> None:
        """Runs WordPress's due cron events through a real request to wp-cron.php."""
        httpx.get(f"{self.url}/wp-cron.php", timeout=60).raise_for_status()

    def publish_scheduled(self, post_id: int) -> dict[str, Any]:
        """Lets time pass for a scheduled post and runs cron: it goes live as on its date."""
        self.call("make_due", id=post_id)
        self.run_cron()
        post = self.get_post(post_id)
        assert post is not None
        return post

    def autosave(self, post_id: int, title: str, content: str) -> int:
        """An editor's autosave (DOING_AUTOSAVE); returns the autosave revision's id."""
        revision: int = self.call("autosave", id=post_id, title=title, content=content)
        return revision

    def save_revision(self, post_id: int) -> int:
        revision: int = self.call("save_revision", id=post_id)
        return revision

    def set_featured_image(
        self, post_id: int, image: bytes | None = None, name: str = "cover.png"
    ) -> dict[str, Any] | None:
        """Uploads an image (a small PNG unless given) into the media library and makes it the
        post's featured image; returns its attachment id and URL. `image=b""` removes the
        post's featured image instead."""
        data = TINY_PNG if image is None else image
        made: dict[str, Any] | None = self.call(
            "set_featured_image", id=post_id, name=name, data=base64.b64encode(data).decode()
        )
        return made

    # -- terms and users ---------------------------------------------------------------------

    def create_category(self, name: str, slug: str | None = None, parent: int | None = None) -> int:
        term: int = self.call(
            "create_term", taxonomy="category", name=name, slug=slug, parent=parent
        )
        return term

    def create_tag(self, name: str, slug: str | None = None) -> int:
        term: int = self.call("create_term", taxonomy="post_tag", name=name, slug=slug)
        return term

    def create_user(self, login: str, role: str, password: str | None = None) -> int:
        """A user with a role (administrator, editor, author, …); the password defaults to
        `<login>-password`."""
        user_id: int = self.call(
            "create_user", login=login, role=role, password=password or f"{login}-password"
        )
        return user_id

    def application_password(self, login: str = ADMIN_USER) -> str:
        """A new application password for REST calls with HTTP basic auth."""
        password: str = self.call("application_password", login=login, name="tests")
        return password

    @contextlib.contextmanager
    def login(self, user: str = ADMIN_USER, password: str | None = None) -> Iterator[httpx.Client]:
        """An HTTP client logged in through wp-login.php, as a browser would be. The password
        defaults to the admin's, or `<login>-password` as create_user() sets it."""
        if password is None:
            password = self.admin_password if user == ADMIN_USER else f"{user}-password"
        with httpx.Client(base_url=self.url, timeout=60) as client:
            client.cookies.set("wordpress_test_cookie", "WP%20Cookie%20check")
            answer = client.post(
                "/wp-login.php",
                data={
                    "log": user,
                    "pwd": password,
                    "wp-submit": "Log In",
                    "redirect_to": f"{self.url}/wp-admin/",
                    "testcookie": "1",
                },
            )
            if answer.status_code != 302 or not any(
                name.startswith("wordpress_logged_in_") for name in client.cookies
            ):
                raise WordPressError(f"login as {user} failed: {answer.status_code}")
            yield client

    # -- options, constants, plugins ---------------------------------------------------------

    def set_option(self, name: str, value: Any) -> Any:
        return self.call("set_option", name=name, value=value)

    def get_option(self, name: str) -> Any:
        return self.call("get_option", name=name)

    def delete_option(self, name: str) -> bool:
        return bool(self.call("delete_option", name=name))

    def define(self, name: str, value: Any) -> None:
        """Defines a constant in wp-config.php for every later request."""
        self.extra_constants[name] = value
        self._write_config()

    def undefine(self, name: str) -> None:
        self.extra_constants.pop(name, None)
        self._write_config()

    def _write_config(self) -> None:
        constants = _session_constants(self.session, self.db, self.url)
        _write_json(self.session / "config.json", {"constants": constants | self.extra_constants})

    def install_plugin(self, source: Path = PLUGIN_SOURCE) -> None:
        """Copies a plugin folder into wp-content/plugins, as an upload would."""
        target = self.content_dir / "plugins" / source.name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)

    def activate_plugin(self, plugin: str = PLUGIN) -> None:
        if not self.call("activate_plugin", plugin=plugin):
            raise WordPressError(f"{plugin} did not activate")

    def deactivate_plugin(self, plugin: str = PLUGIN) -> None:
        self.call("deactivate_plugin", plugin=plugin)

    def uninstall_plugin(self, plugin: str = PLUGIN) -> None:
        """Runs the plugin's uninstall routine (uninstall.php), as deleting it in wp-admin does."""
        self.call("uninstall_plugin", plugin=plugin)

    # -- lifecycle ---------------------------------------------------------------------------

    def start_server(self) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        log = self.session / "php-server.log"
        with open(log, "ab") as output:
            self.server = subprocess.Popen(
                [
                    "php",
                    *PHP_OPTIONS,
                    "-S",
                    f"127.0.0.1:{port}",
                    "-t",
                    str(self.root),
                    str(HERE / "router.php"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=_php_env(self.root, self.session, self.url)
                # Several workers: the bot may read the REST API while a request is running.
                | {"PHP_CLI_SERVER_WORKERS": "4"},
                cwd=self.root,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        _wait_until(lambda: _connects(("127.0.0.1", port)), self.server, "php -S", log)

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            # The server's workers share its process group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait(timeout=10)
        self.db.stop(clean=False)


@contextlib.contextmanager
def running_wordpress(session: Path) -> Iterator[WordPress]:
    """Starts a private WordPress whose files live in `session`; stops it on the way out."""
    ensure_packages()
    built = template()
    rundir = Path(tempfile.mkdtemp(prefix="kwp-"))  # short: a socket path has a length limit
    shutil.copytree(built / "db", session / "db")
    db = MariaDB(session / "db", rundir, _free_port())
    wp = WordPress(
        url=f"http://127.0.0.1:{_free_port()}", root=built / "www", session=session, db=db
    )
    _make_session(session, db, wp.url)
    try:
        db.start()
        wp.start_server()
        wp.install_plugin()
        yield wp
    finally:
        wp.stop()
        shutil.rmtree(session / "db", ignore_errors=True)
        shutil.rmtree(rundir, ignore_errors=True)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Installs the packages and builds the template before the first test that needs them,
    so that a first run on a fresh machine is not charged to one test's timeout."""
    if not any("wordpress" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    capture = session.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        ensure_packages()
        template()


@pytest.fixture(scope="session")
def wordpress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPress]:
    """A real WordPress for the whole run, with the kcrush-bot plugin copied in (not active)."""
    with running_wordpress(tmp_path_factory.mktemp("wordpress")) as wp:
        yield wp
