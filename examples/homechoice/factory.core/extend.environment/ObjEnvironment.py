"""Where things are at run time: AXION_HOME, config, keys, document folders, factory folders."""

import os
import sys

DOCUMENT_FOLDERS = ("local.documents", "data.documents", "archive.documents")
KEY_FOLDER = "data.config"
DEFAULT_PACKAGE = "homechoice"


class ObjEnvironment:
    """Paths of the runtime contract, resolved from the environment on every call."""

    @staticmethod
    def home():
        """The runtime root: $AXION_HOME, else the current working directory."""
        return os.path.abspath(os.environ.get("AXION_HOME") or os.getcwd())

    @staticmethod
    def config_path():
        """The runtime config file: $AXION_CONFIG, else $AXION_HOME/config.yaml."""
        override = os.environ.get("AXION_CONFIG")
        if override:
            return os.path.abspath(override)
        return os.path.join(ObjEnvironment.home(), "config.yaml")

    @staticmethod
    def key_folder():
        """The folder holding {package}_private.pem and {package}_public.pem."""
        return os.path.join(ObjEnvironment.home(), KEY_FOLDER)

    @staticmethod
    def document_folders():
        """The three document folders, by name, under the runtime root."""
        home = ObjEnvironment.home()
        return [(name, os.path.join(home, name)) for name in DOCUMENT_FOLDERS]

    @staticmethod
    def factory_folders():
        """The folders on sys.path that belong to a factory set (factory.<set>/...)."""
        folders = []
        for entry in sys.path:
            parts = os.path.abspath(entry or ".").split(os.sep)
            if any(part.startswith("factory.") for part in parts) and entry not in folders:
                folders.append(os.path.abspath(entry))
        return folders

    @staticmethod
    def app_root():
        """The app tree holding the factory sets, taken from sys.path (else the cwd)."""
        for folder in ObjEnvironment.factory_folders():
            parts = folder.split(os.sep)
            for index, part in enumerate(parts):
                if part.startswith("factory."):
                    return os.sep.join(parts[:index]) or os.sep
        return os.getcwd()
