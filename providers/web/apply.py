"""One apply of the web provider: every change of the run together, one reload.

``Run.execute(jobs)`` carries out a list of site changes and sets each job's own ``error``:

1. directories: every created or updated site's home, docroot, logs and tmp (``files``; an
   update that keeps home, docroot and owner skips them; on btrfs with quotas on, a new site
   directory is a subvolume and its limit follows ``quota``); a site's new owner gets its files; a
   deleted site's files, or a moved site's old ones, are archived (before its configuration
   goes: a failed archive leaves the site live, so the next run tries again);
2. staging: the new files are written into ``.ispctl-staging/new`` inside the live directories
   (same filesystem, a name no include matches);
3. test: the whole configuration with the candidate files (``apply_config``): php-fpm for the
   pools that change, Apache for the vhosts; a site that breaks a test fails with the test's
   output and the others carry on (found by the file the error names, else by bisection);
4. swap: one sync, then each file replaced in one rename, the live one kept in
   ``.ispctl-previous``; a record of what was swapped (``files.PENDING``) is written first and
   removed after the reload, so an apply killed in between is finished by the next one;
5. ONE graceful Apache reload and one php-fpm reload, whatever the number of sites;
6. probe every changed site (``probe``); a site that does not answer gets its previous files
   back, and one more reload puts them live; its change fails with the probe's finding;
7. certificates (``certify``, HTTPS ``auto``): once the HTTP configuration is live (HTTP-01 is
   served from the challenge directory), each such site asks for its certificate (issued, or
   renewed near its end); the sites that got one are switched to HTTPS with the same
   stage/test/swap/reload/probe, and a renewal alone is one more reload. A failed issuance or
   switch never fails the site: it keeps serving HTTP, and the next plan shows it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ispctl.providers.web import files, quota, rename
from ispctl.providers.web.apply_config import ConfigTest, Control, failing, run
from ispctl.providers.web.probe import Target, probe
from ispctl.providers.web.render import Layout, Rendered, RenderError, render, tls_paths
from ispctl.providers.web.staging import Candidates
from ispctl.reconciler.contract import Resource

_DIRS = ("home", "docroot", "uid", "gid")  # what a site's directories follow
PREVIOUS = ".ispctl-previous"
# Given a site whose HTTP configuration is live, make sure its certificate is on disk (issued or
# renewed as needed); True when new certificate files were written by this call.
Certify = Callable[[Resource], bool]


@dataclass
class Job:
    """One site change of the run, and its outcome (``error`` None: applied)."""

    ticket: int
    action: str  # create | update | delete
    before: Resource | None
    after: Resource | None
    rendered: Rendered | None = None
    error: str | None = None
    undo: list[tuple[str, str | None]] = field(default_factory=list)  # (live path, previous copy or None)

    @property
    def resource(self) -> Resource:
        found = self.after if self.after is not None else self.before
        assert found is not None
        return found

    @property
    def host(self) -> str:
        return self.resource.key

    @property
    def old_host(self) -> str | None:
        """The former name of a renamed site: its files go when the new name's go live."""
        return rename.old_host(self.before, self.after)

    def hosts(self) -> tuple[str, ...]:
        """The names whose files this job changes."""
        return (self.host,) if self.old_host is None else (self.host, self.old_host)


def cert_exists(layout: Layout, site: Resource) -> bool:
    """Whether both files of the site's certificate (``auto`` or ``custom``) are on the web host."""
    paths = tls_paths(site.key, site.attrs, layout)
    return paths is not None and all(os.path.isfile(p) for p in paths)


def prepare(job: Job, layout: Layout) -> None:
    """Render a create or update (a site that cannot be rendered fails here, alone)."""
    if job.after is not None:
        job.rendered = render(job.after, layout, cert_exists(layout, job.after))


class Run:
    """One run of the steps in the module docstring over a list of jobs."""

    def __init__(self, layout: Layout, control: Control, apache: ConfigTest, php: ConfigTest,
                 reloads: list[str], certify: Certify | None = None) -> None:
        self.layout = layout
        self.control = control
        self.apache = apache
        self.php = php
        self.reloads = reloads  # what was reloaded, in order (tests count them)
        self.certify = certify
        self.notes: list[str] = []  # what went wrong without failing a change (a certificate)
        self._btrfs: quota.BtrfsQuotas | None = None

    def execute(self, jobs: list[Job]) -> None:
        moved = self._directories(jobs)
        changed = self._go_live([j for j in jobs if j.error is None])
        for job in moved:
            if job.error is not None and job.before is not None and job.after is not None:
                rename.move_folder_back(job.before, job.after)  # the old name still serves: its files too
        self._certificates(changed)

    # -- 1. directories --------------------------------------------------------------------

    def _directories(self, jobs: Iterable[Job]) -> list[Job]:
        """Every site's folders as its change needs them; returns the renamed sites whose folder
        this run moved (put back if their configuration does not go live)."""
        now = datetime.now(UTC)
        moved: list[Job] = []
        for job in jobs:
            try:
                if job.after is not None and job.before is not None and job.old_host is not None:
                    if rename.move_folder(job.before, job.after):
                        moved.append(job)
                if job.after is not None:
                    site = job.after
                    uid, gid = site.attrs.get("uid"), site.attrs.get("gid")
                    home, docroot = site.attrs.get("home"), site.attrs.get("docroot")
                    assert isinstance(uid, int) and isinstance(gid, int)
                    assert isinstance(home, str) and isinstance(docroot, str)  # render checked them
                    before = job.before
                    old_home = before.attrs.get("home") if before is not None else None
                    if job.old_host is None and isinstance(old_home, str) and old_home.rstrip("/") != home.rstrip("/"):
                        # The site moved to another tenant's home: its old files are archived (they
                        # belong to the old tenant), never handed over and never destroyed.
                        old_docroot = before.attrs.get("docroot") if before is not None else None
                        files.archive_site(self.layout, site.key, old_home,
                                           old_docroot if isinstance(old_docroot, str) else None, now)
                    quotas = self._quotas()
                    # Unless the read saw the docroot with this owner and logs and tmp are there:
                    if not (before is not None and all(before.attrs.get(k) == site.attrs.get(k) for k in _DIRS)
                            and all(os.path.isdir(f"{home}/{site.key}/{d}") for d in ("logs", "tmp"))):
                        retree = before is not None and (before.attrs.get("uid"), before.attrs.get("gid")) != (uid, gid)
                        files.prepare_site(self.layout, site.key, home.rstrip("/"), docroot.rstrip("/"), (uid, gid),
                                           retree=retree, subvolume=quotas.enabled)
                    self._limit(site, f"{home.rstrip('/')}/{site.key}", quotas)
                else:
                    site = job.resource
                    home, docroot = site.attrs.get("home"), site.attrs.get("docroot")
                    if isinstance(home, str):
                        files.archive_site(self.layout, site.key, home,
                                           docroot if isinstance(docroot, str) else None, now)
            except OSError as exc:
                job.error = f"{job.resource.address}: {exc.strerror or exc} ({exc.filename})"
            except Exception as exc:
                job.error = str(exc)
        return moved

    def _quotas(self) -> quota.BtrfsQuotas:
        """Whether btrfs enforces quotas below the web root, and the limits set (read once per run)."""
        if self._btrfs is None:
            self._btrfs = quota.BtrfsQuotas.probe(self.layout.web_root)
        return self._btrfs

    @staticmethod
    def _limit(site: Resource, where: str, quotas: quota.BtrfsQuotas) -> None:
        try:
            quotas.limit(site, where)
        except quota.QuotaError as exc:
            raise files.WebFileError(f"{site.address}: its quota is not set: {exc}") from None

    # -- 2-6. stage, test, swap, reload, probe -------------------------------------------------

    def _go_live(self, jobs: list[Job]) -> list[Job]:
        """Put the jobs' files live; returns those whose configuration changed and went live."""
        lay = self.layout
        entries = files.owned_entries(lay.sites_dir)
        vhosts = {h: text for h, (_, text) in entries.items()}
        pools = files.owned_files(lay.pools_dir)
        # A renamed site's old name loses its files in the same tested batch its new one gets them.
        gone: dict[str, str | None] = {j.old_host: None for j in jobs if j.old_host is not None}
        new_vhost = gone | {j.host: (j.rendered.vhost if j.rendered else None) for j in jobs}
        new_pool = gone | {j.host: (j.rendered.pool if j.rendered else None) for j in jobs}
        site_changes = {h: t for h, t in new_vhost.items() if t != vhosts.get(h)}
        pool_changes = {h: t for h, t in new_pool.items() if t != pools.get(h)}
        by_host = {h: j for j in jobs for h in j.hosts()}
        earlier = files.read_pending(lay)  # files an interrupted apply swapped in: not served yet
        pool_stage = self._stage(lay.pools_dir, pool_changes, by_host, {}, {h: f"{h}.conf" for h in pools})
        names = {j.host: j.rendered.vhost_name for j in jobs if j.rendered is not None and j.rendered.vhost_name}
        site_stage = self._stage(lay.sites_dir, site_changes, by_host, names,
                                 {h: name for h, (name, _) in entries.items()})
        try:
            self._test(pool_stage, self.php, by_host)
            self._test(site_stage, self.apache, by_host)
            good = [j for j in jobs if j.error is None]
            swapping = [h for j in good for h in j.hosts() if h in site_changes or h in pool_changes]
            pending = earlier | files.Pending(frozenset(swapping), any(h in site_changes for h in swapping),
                                              any(h in pool_changes for h in swapping))
            os.sync()  # the staged files' data is on disk before any of them goes live
            files.write_pending(lay, pending)
            for job in good:
                try:
                    self._swap(job, site_stage, pool_stage)
                except OSError as exc:
                    job.error = f"{job.resource.address}: {exc.strerror or exc} ({exc.filename})"
                    self._restore([job])
        finally:
            for stage in (pool_stage, site_stage):
                if stage is not None:
                    stage.close()
        good = [j for j in good if j.error is None]
        apache = any(h in site_changes for j in good for h in j.hosts()) or earlier.apache
        php = any(h in pool_changes for j in good for h in j.hosts()) or earlier.php
        failure = self._reload(apache, php)
        if failure is not None:
            self._restore(good)
            if self._reload(apache, php) is None:
                files.write_pending(lay, earlier)
            for job in good:
                job.error = f"{job.resource.address}: {failure}"
            return []
        files.write_pending(lay, files.Pending())  # what is on disk is served (a rollback reloads itself)
        # What this reload put live, including files an interrupted apply had swapped in: a
        # php-fpm reload is not finished when its command returns, the probe waits for the pool.
        live = [j for j in good if j.rendered is not None
                and (j.host in site_changes or j.host in pool_changes or j.host in earlier.hosts)]
        if self.control.probe and live:
            failed = self._probe(live)
            if failed:
                broken = [j for j in live if j.host in failed]
                self._restore(broken)
                self._reload(any(h in site_changes for j in broken for h in j.hosts()),
                             any(h in pool_changes for j in broken for h in j.hosts()))
                for job in broken:
                    job.error = f"{job.resource.address}: {failed[job.host]}; its previous files are back"
        return [j for j in good if j.error is None]

    @staticmethod
    def _stage(live_dir: str, changes: dict[str, str | None], by_host: dict[str, Job], names: dict[str, str],
               live_names: dict[str, str]) -> Candidates | None:
        wanted = {h: t for h, t in changes.items() if by_host[h].error is None}
        return Candidates(live_dir, wanted, names, live_names) if wanted else None

    @staticmethod
    def _test(stage: Candidates | None, test: ConfigTest, by_host: dict[str, Job]) -> None:
        """Fail the staged changes that break ``test`` (each with the output that blamed it)."""
        if stage is None or all(t is None for t in stage.new.values()):
            return  # removals only: what stays was tested when it went live
        wanted = {h for h in stage.new if by_host[h].error is None}

        def check(included: frozenset[str]) -> tuple[str | None, str]:
            return test.check(stage.build(included)), stage.new_dir

        for host, output in failing(check, wanted).items():
            why = "" if output.startswith("the configuration fails") else " with this site's new files"
            by_host[host].error = (f"{by_host[host].resource.address}: the {test.daemon} configuration test "
                                   f"failed{why}; the live configuration is unchanged:\n{stage.shown(output)}")

    def _swap(self, job: Job, sites: Candidates | None, pools: Candidates | None) -> None:
        if job.old_host is not None:
            self._swap_host(job, job.old_host, None, sites, pools)  # staged as removals
        self._swap_host(job, job.host, job.rendered, sites, pools)

    def _swap_host(self, job: Job, host: str, rendered: Rendered | None, sites: Candidates | None,
                   pools: Candidates | None) -> None:
        lay = self.layout
        if pools is not None and host in pools.new:
            self._replace(job, host, pools)
        secret = rendered.htpasswd if rendered else None
        current = files.read_small(lay.htpasswd_path(host))
        if secret != current:
            owner = (0, files.group_id(lay.listen_group))
            files.ensure_dir(lay.htpasswd_dir, 0o750, owner)  # Apache's workers read it; no one else
            path = lay.htpasswd_path(host)
            self._keep(job, path, f"{lay.htpasswd_dir}/{PREVIOUS}/{host}")
            if secret is None:
                files.remove(path)
            else:
                files.write_atomic(path, secret, 0o640, owner)
        if rendered is not None:  # before the vhost naming them goes live
            files.write_generated(job.resource, lay.sites_dir)
        if sites is not None and host in sites.new:
            self._replace(job, host, sites)

    @staticmethod
    def _keep(job: Job, path: str, previous: str) -> None:
        os.makedirs(os.path.dirname(previous), 0o700, exist_ok=True)
        kept = files.keep_previous(path, previous)
        job.undo.append((path, previous if kept else None))

    def _replace(self, job: Job, host: str, stage: Candidates) -> None:
        """The live file of ``host`` replaced by (or, for a removal, without) its staged one;
        a file under another name (a site that gained or lost a wildcard alias) is removed."""
        old = stage.live_names.get(host)
        new = stage.names[host] if stage.new[host] is not None else None
        if old is not None and old != new:
            self._keep(job, f"{stage.live_dir}/{old}", f"{stage.live_dir}/{PREVIOUS}/{old}")
            files.remove(f"{stage.live_dir}/{old}")
        if new is not None:
            self._keep(job, f"{stage.live_dir}/{new}", f"{stage.live_dir}/{PREVIOUS}/{new}")
            stage.take(host)

    @staticmethod
    def _restore(jobs: Iterable[Job]) -> None:
        for job in jobs:
            for path, previous in reversed(job.undo):
                if previous is None:
                    files.remove(path)
                else:
                    tmp = f"{os.path.dirname(path)}/.ispctl-restore-{os.path.basename(path)}.tmp"
                    files.remove(tmp)
                    os.link(previous, tmp)
                    os.replace(tmp, path)
            job.undo.clear()

    def _reload(self, apache: bool, php: bool) -> str | None:
        """Reload what changed (php-fpm first: Apache's new vhosts need its sockets); why it failed, or None."""
        for needed, name, argv in ((php, "php-fpm", self.control.php_reload),
                                   (apache, "apache", self.control.apache_reload)):
            if not needed:
                continue
            self.reloads.append(name)
            status, out = run(argv, self.control.command_timeout)
            if status != 0:
                return f"reloading {name} failed ({' '.join(argv)}: {out or status})"
        return None

    def _probe(self, jobs: list[Job]) -> dict[str, str]:
        targets = []
        for job in jobs:
            assert job.rendered is not None
            socket = self.layout.socket_path(job.host) if job.rendered.pool is not None else None
            targets.append(Target(job.host, job.rendered.token, job.rendered.tls, socket))
        return probe(targets, self.control.probe_address, self.layout.http_port, self.layout.https_port,
                     self.control.probe_timeout)

    # -- 7. certificates ---------------------------------------------------------------------

    def _certificates(self, jobs: list[Job]) -> None:
        if self.certify is None:
            return
        switch: list[Job] = []
        renewed = False
        for job in jobs:
            site = job.after
            if site is None or site.attrs.get("https") != "auto" or site.attrs.get("status") == "suspended":
                continue
            try:
                written = self.certify(site)
            except Exception as exc:
                self.notes.append(f"{site.address}: {exc}")
                continue
            if job.rendered is not None and job.rendered.tls:
                renewed = renewed or written  # same files, a new certificate: Apache reads it on reload
            elif job.rendered is not None and cert_exists(self.layout, site):
                try:
                    rendered = render(site, self.layout, cert_exists=True)
                except RenderError as exc:
                    self.notes.append(str(exc))
                    continue
                switch.append(Job(job.ticket, "update", site, site, rendered))
        if switch:
            self._go_live(switch)  # its reload serves the renewed certificates too
            self.notes += [f"{j.resource.address}: HTTPS not switched on: {j.error}" for j in switch if j.error]
        elif renewed:
            failure = self._reload(apache=True, php=False)
            if failure is not None:
                self.notes.append(failure)
