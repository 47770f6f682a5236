"""Runtime configuration: $AXION_HOME/config.yaml, each option overridable from the environment.

`get(section, option)` resolves AXION_{SECTION}_{OPTION} first, then the file,
then the default, so a container can change any setting without a new config.
"""

import os

import yaml
from ObjEnvironment import DEFAULT_PACKAGE, ObjEnvironment


def env_name(section, option):
    """The environment variable that overrides `section.option`."""
    name = "AXION_%s_%s" % (section, option)
    return name.upper().replace("-", "_").replace(".", "_")


def read_config(path):
    """The parsed config mapping and '' or an empty mapping and why it could not be read."""
    if not os.path.isfile(path):
        return {}, "no config file at %s" % path
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        return {}, "cannot read %s: %s" % (path, str(exc).splitlines()[0])
    if data is None:
        return {}, "%s is empty" % path
    if not isinstance(data, dict):
        return {}, "%s is not a mapping of sections" % path
    return data, ""


class ObjConfig:
    """The runtime config file plus environment overrides."""

    def __init__(self, path=None):
        self.path = path or ObjEnvironment.config_path()
        self.data, self.error = read_config(self.path)

    def sections(self):
        """The names of the sections in the file."""
        return [name for name, value in self.data.items() if isinstance(value, dict)]

    def section(self, name):
        """One section of the file as a mapping (empty when absent)."""
        value = self.data.get(name)
        return value if isinstance(value, dict) else {}

    def file_value(self, section, option, default=None):
        """The value written in the file, ignoring the environment."""
        return self.section(section).get(option, default)

    def get(self, section, option, default=None):
        """AXION_{SECTION}_{OPTION} from the environment, else the file, else `default`."""
        name = env_name(section, option)
        if name in os.environ:
            return os.environ[name]
        return self.file_value(section, option, default)

    def get_number(self, section, option, default):
        """`get` as a float, falling back to `default` when unset or not a number."""
        try:
            return float(self.get(section, option, default))
        except (TypeError, ValueError):
            return float(default)

    def package_name(self):
        """package.name, else $AXION_PACKAGE, else the app's own package."""
        return (self.get("package", "name") or os.environ.get("AXION_PACKAGE")
                or DEFAULT_PACKAGE)

    def services(self):
        """The configured services: name -> {script, args, port, route}."""
        return {name: (spec or {}) for name, spec in self.section("services").items()}

    def service_port(self, name, default):
        """The port configured for service `name`."""
        try:
            return int(self.services().get(name, {}).get("port") or default)
        except (TypeError, ValueError):
            return int(default)
