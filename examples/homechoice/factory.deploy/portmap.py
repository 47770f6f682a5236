"""Pure functions over service ports, arguments and routes."""


def port_from_args(args, default, flag="--port"):
    """The port given as `flag N` in `args`, else the first all-digit argument, else default."""
    args = [str(a) for a in args]
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            return int(args[index + 1])
        if arg.startswith(flag + "="):
            return int(arg.split("=", 1)[1])
    for arg in args:
        if arg.isdigit():
            return int(arg)
    return int(default)


def duplicates(values):
    """The values that occur more than once, in first-seen order."""
    seen, repeated = set(), []
    for value in values:
        if value in seen and value not in repeated:
            repeated.append(value)
        seen.add(value)
    return repeated


def health_paths(route):
    """The paths that answer a health check for a service under `route`."""
    prefix = "/" + route.strip("/") if route and route.strip("/") else ""
    return ["/health"] if not prefix else ["/health", prefix + "/health"]


def upstream_name(service):
    """The environment variable naming a service's upstream for the proxy."""
    return "UPSTREAM_" + "".join(c if c.isalnum() else "_" for c in service).upper()
