"""The web provider: kind ``site``, Apache vhosts and PHP-FPM pools on the web host.

Reading is one walk of ``sites_dir`` and ``pools_dir`` (``files.scan``) parsed by ``live``:
only files carrying ispctl's marker are sites; anything else there is never read or touched.

Writing takes every site change of a run together, so Apache is reloaded once however many
sites change. The provider is ``Pipelined``: the engine submits each change (a site that
cannot be rendered fails at once, alone), and the first ``collect`` carries out everything
submitted so far in one ``apply.Run`` (stage, test the whole configuration, swap, one graceful
reload, probe, roll back per site); each change then gets its own outcome, with its own error.
The engine collects a change only once nothing older is in flight, so the sites of a run form
one such batch (sites waiting for their new domain are submitted as the directory answers,
before the first site is collected). A stop (SIGTERM, Ctrl-C) that comes once changes are
submitted still lets that batch run to its end when the engine collects what is in flight:
a batch stopped half-way would leave files swapped in but not reloaded.

A plan shows each created or updated site's rendered change (``describe``, ``describe.py``): the
unified diff of its vhost and pool from what the read found to what the apply will write.

Deleting a site archives its files (``files.archive_site``): the plan says "moved to the web
archive", never destroyed.

Certificates: ``certify`` (``apply.Certify``) is called for every ``https: auto`` site whose
HTTP configuration went live in this run; ``certify_with_acme`` builds it from the ACME
settings (``certs.ensure``).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, ClassVar, Literal

from ispctl.providers.web.compile import KIND
from ispctl.providers.web.hosts import KIND as WEBHOST
from ispctl.reconciler.contract import Done, Pipelined, Provider, ProviderError, Resource, Submission, output

# The class itself needs only its kinds: what it reads, renders, describes and writes with is
# imported by the methods that do, so that a plan process that never builds it (no ``web:``
# settings) loads none of it, and one that does loads the write path only when it applies (issue 11).
if TYPE_CHECKING:
    from ispctl.providers.web.apply import Certify, Job
    from ispctl.providers.web.apply_config import Control
    from ispctl.providers.web.certs import AcmeSettings
    from ispctl.providers.web.hosts import WebHosts
    from ispctl.providers.web.live import SiteFiles
    from ispctl.providers.web.placement import HostRun
    from ispctl.providers.web.quota import BtrfsQuotas
    from ispctl.providers.web.render import Layout


class WebProvider(Provider, Pipelined):
    name: ClassVar[str] = "web"
    # ``webhost``: a site's host in a cluster, kept by the central run (``hosts``, ``placement``).
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({KIND, WEBHOST})
    # A removed site's files go to the archive: the plan must not call that "destroyed".
    ARCHIVES: ClassVar[Mapping[str, str]] = {KIND: "moved to the web archive"}

    def __init__(self, layout: Layout, control: Control | None = None, certify: Certify | None = None,
                 hosts: WebHosts | None = None, host_run: HostRun | None = None) -> None:
        from ispctl.providers.web.apply_config import ConfigTest, Control

        self.layout = layout
        # The central run of a cluster with web hosts: the sites' hosts in the directory, and no
        # site files (each web host's own run keeps those).
        self.hosts = hosts
        self.host_run = host_run  # a web host's own run in a cluster: the sites placed on it
        self.control = control or Control()
        self.certify = certify
        self.apache = ConfigTest("apache", self.control.apache_test, layout.sites_dir, self.control.command_timeout)
        self.php = ConfigTest("php-fpm", self.control.php_test, layout.pools_dir, self.control.command_timeout)
        self.reloads: list[str] = []  # "apache" / "php-fpm", in order: tests and the benchmark count them
        self.notes: list[str] = []  # certificate trouble that did not fail a change
        self.warnings: list[str] = []  # what the operator was told once this run (tests read them)
        self._quotas: BtrfsQuotas | None = None  # the web root's filesystem and its quotas, once looked up
        self._queue: list[Job] = []
        self._done: deque[Done] = deque()
        self._seen: dict[str, SiteFiles] = {}  # host -> the files the last read found (``describe``)

    def reconciles(self, resource: Resource) -> bool:
        """In a cluster: the central run keeps the sites' hosts (``webhost``), a web host's run
        the sites placed on it (``placement``); without one, every site."""
        if self.hosts is not None:
            return resource.kind == WEBHOST
        if resource.kind == WEBHOST:
            return False
        return self.host_run is None or self.host_run.keeps(resource)

    def _read_live(self, kinds: frozenset[str]) -> Iterable[Resource]:
        from ispctl.providers.web.files import scan
        from ispctl.providers.web.live import parse_site

        if self.hosts is not None:
            return self.hosts.read() if WEBHOST in kinds else []
        if KIND not in kinds:
            return []
        try:
            found = scan(self.layout)
        except OSError as exc:
            raise ProviderError(f"web: cannot read {exc.filename}: {exc.strerror or exc}") from None
        issuing = self.certify is not None
        self._seen = {f.host: f for f in found}
        sites = [site for site in (parse_site(f, self.layout, issuing=issuing) for f in found) if site is not None]
        for site in sites:
            self._missing_certificate(site)
            self._quota(site)
        return sites

    def _quota(self, site: Resource) -> None:
        """A declared quota nothing enforces (``quota``: only btrfs subvolumes are limited): say so."""
        from ispctl.providers.web.quota import BtrfsQuotas, quota_of

        if quota_of(site) is None:
            return
        if self._quotas is None:
            self._quotas = BtrfsQuotas.probe(self.layout.web_root)
        message = self._quotas.note(site)
        if message is not None:
            self.warn(message)

    def warn(self, message: str) -> None:
        """Tell the operator once per run (a plan and its apply each read the live side)."""
        if message in self.warnings:
            return
        self.warnings.append(message)
        output.err().print(f"Warning: {message}", markup=False, style="yellow")

    def _missing_certificate(self, site: Resource) -> None:
        """An operator-provided certificate not on the web host yet: the site serves HTTP until it is."""
        from ispctl.providers.web.render import tls_paths

        if site.attrs.get("https") != "custom":
            return
        paths = tls_paths(site.key, site.attrs, self.layout) or ()
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            self.warn(f"{site.address}: {' and '.join(missing)} {'does' if len(missing) == 1 else 'do'} not exist "
                      "on the web host; serving HTTP only until it exists")

    def describe(self, before: Resource | None, after: Resource | None) -> tuple[str, ...]:
        """How the site's vhost and pool change (``describe``): from the files the read found (a
        hand edit shows as what is put back), else rendered from ``before``, to what ``after``
        renders to with the certificate the apply would find. Never the htpasswd file; nothing
        for a delete (the plan says the files go to the archive) or a site that cannot be
        rendered (its apply fails, naming the field)."""
        from ispctl.providers.web.apply import cert_exists
        from ispctl.providers.web.describe import SiteText, site_diff, vhost_name
        from ispctl.providers.web.hosts import describe as describe_move
        from ispctl.providers.web.render import RenderError, render

        either = after if after is not None else before
        if either is not None and either.kind == WEBHOST:
            return describe_move(before, after)
        if after is None:
            return ()
        try:
            new = SiteText.of(render(after, self.layout, cert_exists(self.layout, after)))
            if before is None:
                return site_diff(SiteText(host=after.key), new)
            seen = self._seen.get(before.key)
            if seen is not None:
                old = SiteText(seen.vhost, vhost_name(before), seen.pool, before.key)
            else:
                old = SiteText.of(render(before, self.layout, cert_exists(self.layout, before)))
        except RenderError:
            return ()
        return site_diff(old, new)

    # -- the engine's pipelined writes --------------------------------------------------------

    def window(self) -> int:
        return 1 << 20  # nothing is sent before a collect: every change of the run may wait together

    def submit(self, submission: Submission) -> None:
        if self.hosts is not None:
            # The directory side: one change at a time, at once (a move copies before it switches).
            error = None
            try:
                self._host_change(submission.action, submission.before, submission.after)
            except ProviderError as exc:
                error = str(exc)
            self._done.append(Done(submission.ticket, error))
            return
        self._queue.append(self._job(submission.ticket, submission.action, submission.before, submission.after))

    def collect(self) -> Done:
        if not self._done:
            jobs, self._queue = self._queue, []
            self._run(jobs)
            self._done.extend(Done(job.ticket, job.error) for job in jobs)
        return self._done.popleft()

    def close(self) -> None:
        self._queue.clear()
        self._done.clear()
        if self.hosts is not None:
            self.hosts.close()

    def _host_change(self, action: str, before: Resource | None, after: Resource | None) -> None:
        from ispctl.providers.web.rename import renamed_host

        assert self.hosts is not None
        if before is not None and after is not None and before.key != after.key:
            self.hosts.create(renamed_host(before, after))  # the new name's value first: never unplaced
            self.hosts.delete(before)
        elif before is not None and after is not None:
            self.hosts.update(before, after)
        elif after is not None:
            self.hosts.create(after)
        elif before is not None:
            self.hosts.delete(before)

    # -- one change at a time (callers other than the engine's apply) ---------------------------

    def _create(self, resource: Resource) -> None:
        if resource.kind == WEBHOST:
            return self._host_change("create", None, resource)
        self._one(self._job(0, "create", None, resource))

    def _update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None:
        if after.kind == WEBHOST:
            return self._host_change("update", before, after)
        self._one(self._job(0, "update", before, after))

    def _delete(self, resource: Resource) -> None:
        if resource.kind == WEBHOST:
            return self._host_change("delete", resource, None)
        self._one(self._job(0, "delete", resource, None))

    def _one(self, job: Job) -> None:
        self._run([job])
        if job.error is not None:
            raise ProviderError(job.error)

    # -- shared ---------------------------------------------------------------------------------

    def _job(self, ticket: int, action: str, before: Resource | None, after: Resource | None) -> Job:
        from ispctl.providers.web.apply import Job, prepare
        from ispctl.providers.web.render import RenderError

        job = Job(ticket, action, before, after)
        try:
            prepare(job, self.layout)
        except RenderError:
            raise
        except Exception as exc:  # e.g. a certificate directory that cannot be read
            raise ProviderError(f"{job.resource.address}: {exc}") from None
        if after is not None:
            self._missing_certificate(after)
            self._quota(after)
        return job

    def _run(self, jobs: list[Job]) -> None:
        from ispctl.providers.web.apply import Run

        if not jobs:
            return
        run = Run(self.layout, self.control, self.apache, self.php, self.reloads, self.certify)
        try:
            run.execute(jobs)
        except Exception as exc:
            # Something beyond one site (a directory ispctl cannot write): every change not yet
            # decided fails with it; what did go live stays live and reads back as such.
            for job in jobs:
                if job.error is None:
                    job.error = f"{job.resource.address}: not applied: {exc}"
        self.notes += run.notes
        for note in run.notes:
            # Not a failed change (the site went live over HTTP), but the operator must hear of it.
            output.err().print(f"Warning: {note}; the site keeps serving HTTP and the next apply tries again",
                               markup=False, style="yellow")


def certify_with_acme(layout: Layout, settings: AcmeSettings,
                      challenge: Literal["http-01", "dns-01"] = "http-01") -> Certify:
    """The certificate hook from the ACME settings (``certs.AcmeSettings``): a site's names are
    its host and aliases; HTTP-01 answers from ``layout.challenge_dir``."""
    from ispctl.providers.web import certs  # the ACME client library, only where certificates are wanted

    def certify(site: Resource) -> bool:
        request = certs.request_for(site, layout.certs_dir, layout.challenge_dir, challenge)
        return certs.ensure(request, settings).action != "kept"

    return certify
