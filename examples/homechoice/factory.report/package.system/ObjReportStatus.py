"""The self-test harness of a running deployment: real checks, each able to fail."""

import importlib.machinery
import os
import platform
import sys
import tempfile
import time

from ObjConfig import ObjConfig
from ObjDeployInfo import ObjDeployInfo
from ObjEncryption import ObjEncryption
from ObjEnvironment import DEFAULT_PACKAGE, ObjEnvironment
from ObjLog import LEVELS
from scoring import grade, pass_rate

MIN_PYTHON = (3, 11)
SECRET_WORDS = ("password", "secret", "token", "key")


def assertion(name, passed, detail):
    """One assertion of the harness."""
    return {"name": name, "pass": bool(passed), "detail": detail}


def is_native(path):
    """Whether `path` is a native extension module."""
    return any(path.endswith(suffix) for suffix in importlib.machinery.EXTENSION_SUFFIXES)


def factory_modules(folders):
    """(name, file) of every loaded module whose file lies directly in a factory folder."""
    roots = set(os.path.realpath(folder) for folder in folders)
    found = []
    for name, module in sorted(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and os.path.dirname(os.path.realpath(path)) in roots:
            found.append((name, path))
    return found


def env_overrides(sections):
    """(variable, section, option) for each AXION_<SECTION>_<OPTION> of a known section."""
    overrides = []
    for name in sorted(os.environ):
        if not name.startswith("AXION_"):
            continue
        rest = name[len("AXION_"):].lower()
        for section in sorted(sections, key=len, reverse=True):
            if rest.startswith(section + "_") and len(rest) > len(section) + 1:
                overrides.append((name, section, rest[len(section) + 1:]))
                break
    return overrides


def shown(option, value):
    """A value as it may appear in a report: secrets are masked."""
    return "***" if any(word in option for word in SECRET_WORDS) else repr(value)


class ObjReportStatus:
    """Runs every check against the live config, keys, folders and loaded modules."""

    def __init__(self, app_root):
        self.app_root = app_root
        self.config = ObjConfig()
        self.package = self.config.package_name()

    def checks(self):
        """The checks in report order: (name, callable returning (passed, detail))."""
        return [
            ("config mounted", self.config_mounted),
            ("PEM keys readable", self.pem_keys_readable),
            ("modules are compiled", self.modules_compiled),
            ("env overrides applied", self.env_overrides_applied),
            ("document folders writable", self.document_folders_writable),
            ("services configured", self.services_configured),
            ("service ports unique", self.service_ports_unique),
            ("log level valid", self.log_level_valid),
            ("python version", self.python_version),
            ("resource.web present", self.resource_web_present),
        ]

    def assertions(self):
        """Every check's outcome; a check that raises counts as failed."""
        results = []
        for name, check in self.checks():
            try:
                passed, detail = check()
            except Exception as exc:
                passed, detail = False, "check raised %s: %s" % (type(exc).__name__, exc)
            results.append(assertion(name, passed, detail))
        return results

    def report(self):
        """The whole status document served as /report/status?format=json."""
        results = self.assertions()
        passed = sum(1 for result in results if result["pass"])
        rate = pass_rate(passed, len(results))
        return {
            "package": self.package,
            "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "axion_home": ObjEnvironment.home(),
            "config_path": self.config.path,
            "app_root": self.app_root,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "services": ObjDeployInfo(self.config, self.app_root).table(),
            "tests": {
                "summary": {"total": len(results), "passed": passed,
                            "failed": len(results) - passed, "pass_rate": rate,
                            "grade": grade(rate)},
                "assertions": results,
            },
        }

    def config_mounted(self):
        """config.yaml exists, parses, and names this package."""
        if self.config.error:
            return False, self.config.error
        name = self.config.file_value("package", "name")
        expected = os.environ.get("AXION_PACKAGE") or DEFAULT_PACKAGE
        if not name:
            return False, "%s has no package.name" % self.config.path
        if name != expected:
            return False, "%s is for package %r, expected %r" % (self.config.path, name, expected)
        return True, "%s parsed: package %s, sections %s" % (
            self.config.path, name, ", ".join(self.config.sections()))

    def pem_keys_readable(self):
        """Both keys load and are a matching pair (public encrypts, private decrypts)."""
        keys = ObjEncryption(ObjEnvironment.key_folder(), self.package)
        problem = keys.pair_problem()
        if problem:
            return False, problem
        detail = "%s_private.pem and %s_public.pem match (RSA-OAEP round trip), fingerprint %s"
        return True, detail % (self.package, self.package, keys.fingerprint())

    def modules_compiled(self):
        """Every loaded factory module comes from a native extension, not Python source."""
        loaded = factory_modules(ObjEnvironment.factory_folders())
        if not loaded:
            return False, "no factory modules loaded (factory folders not on sys.path?)"
        sources = [os.path.relpath(path, self.app_root) for _, path in loaded
                   if not is_native(path)]
        if sources:
            return False, "%d of %d loaded from source: %s" % (
                len(sources), len(loaded), ", ".join(sorted(sources)))
        return True, "all %d loaded factory modules are native extensions" % len(loaded)

    def env_overrides_applied(self):
        """Every AXION_<SECTION>_<OPTION> of a configured section wins over the file."""
        overrides = env_overrides(self.config.sections())
        if not overrides:
            return True, "no overrides set"
        applied, ignored = [], []
        for name, section, option in overrides:
            value = self.config.get(section, option)
            note = "%s.%s=%s (file: %s)" % (section, option, shown(option, value),
                                            shown(option, self.config.file_value(section, option)))
            (applied if value == os.environ[name] else ignored).append(note)
        if ignored:
            return False, "not applied: " + "; ".join(ignored)
        return True, "applied: " + "; ".join(applied)

    def document_folders_writable(self):
        """A file can be created and deleted in each document folder."""
        problems = []
        for name, folder in ObjEnvironment.document_folders():
            if not os.path.isdir(folder):
                problems.append("%s missing (%s)" % (name, folder))
                continue
            try:
                handle, probe = tempfile.mkstemp(prefix=".axion-probe-", dir=folder)
                with os.fdopen(handle, "wb") as stream:
                    stream.write(b"probe")
                os.unlink(probe)
            except OSError as exc:
                problems.append("%s not writable: %s" % (name, exc.strerror or exc))
        if problems:
            return False, "; ".join(problems)
        return True, "created and deleted a file in %s" % ", ".join(
            name for name, _ in ObjEnvironment.document_folders())

    def services_configured(self):
        """Every configured service's entry script is in the app tree.

        A thin single-service image (AXION_SERVICE set, fixed by the image) ships
        only its own script; the dispatcher image and a native tree ship them all.
        """
        deploy = ObjDeployInfo(self.config, self.app_root)
        services = deploy.table()
        if not services:
            return False, "no services in %s" % self.config.path
        missing = deploy.missing_scripts()
        own = os.environ.get("AXION_SERVICE", "")
        if own and os.environ.get("AXION_IMAGE_KIND") == "service":
            if own not in [row["name"] for row in services]:
                return False, "AXION_SERVICE %r is not a configured service" % own
            missing = [m for m in missing if m.startswith(own + ":")]
            if not missing:
                return True, "single-service image: %s's script present" % own
        if missing:
            return False, "scripts missing from %s: %s" % (self.app_root, ", ".join(missing))
        return True, "%d services, every script present: %s" % (
            len(services), ", ".join(row["name"] for row in services))

    def service_ports_unique(self):
        """No two services share a port."""
        deploy = ObjDeployInfo(self.config, self.app_root)
        repeated = deploy.duplicate_ports()
        if repeated:
            return False, "ports used twice: %s" % ", ".join(str(p) for p in repeated)
        ports = sorted(row["port"] for row in deploy.http_services())
        return True, "%d HTTP services on distinct ports %s" % (
            len(ports), ", ".join(str(p) for p in ports))

    def log_level_valid(self):
        """runtime.log_level is a level the logger knows."""
        level = str(self.config.get("runtime", "log_level", "info")).lower()
        if level not in LEVELS:
            return False, "unknown log level %r (use one of %s)" % (level, ", ".join(LEVELS))
        return True, "log level %s" % level

    def python_version(self):
        """The interpreter is at least the version the modules are compiled for."""
        found = "%s %s on %s" % (platform.python_implementation(), platform.python_version(),
                                 platform.machine())
        if sys.version_info[:2] < MIN_PYTHON:
            return False, "%s, needs >= %d.%d" % ((found,) + MIN_PYTHON)
        return True, found

    def resource_web_present(self):
        """resource.web/index.html ships with the app."""
        index = os.path.join(self.app_root, "resource.web", "index.html")
        if not os.path.isfile(index) or os.path.getsize(index) == 0:
            return False, "%s missing or empty" % index
        files = sorted(os.listdir(os.path.dirname(index)))
        return True, "%d files: %s" % (len(files), ", ".join(files))
