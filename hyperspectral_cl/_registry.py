"""One small name registry behind backbones, augmentations and contrastive losses.

Modelled on timm's model registry: a ``register`` decorator (or call), a lookup
whose error lists the valid names, and a sorted list of names. Each registry
keeps its entries in a plain dict (``entries``) that its module publishes
(``BACKBONES``, ``AUGMENTATIONS``, ``CONTRASTIVE_LOSSES``).
"""

from ._validation import unknown_name_error

__all__ = ["Registry"]


class Registry:
    """Names (and aliases) mapped to objects.

    Parameters
    ----------
    kind : str
        What the names name, as error messages say it (``'backbone'``).
    entries : dict, optional
        Initial ``name -> object`` entries, kept in their order.
    reserved : container of str, default=()
        Names that are taken but resolved elsewhere (e.g. augmentation groups):
        they cannot be registered and are listed among the valid names. Kept
        as given, so a live view follows its source.
    lookup_key : callable, default=None
        Applied to a name before lookup (``str.lower``: case-insensitive names).
    taken : str, default='{kind} name {name!r} is already registered'
        The message of the ValueError for a name already taken.
    """

    def __init__(self, kind, entries=None, *, reserved=(), lookup_key=None,
                 taken="{kind} name {name!r} is already registered"):
        self.kind = kind
        self.entries = {}
        self.aliases = {}
        self.reserved = reserved
        self._lookup_key = lookup_key
        self._taken = taken
        for name, obj in (entries or {}).items():
            self.register(name, obj)

    def __contains__(self, name):
        return name in self.entries or name in self.aliases

    def register(self, name, obj=None, *, aliases=()):
        """Register ``obj`` under ``name`` and ``aliases``; without ``obj``, a decorator that does."""
        if obj is None:
            return lambda o: self.register(name, o, aliases=aliases)
        for key in (name, *aliases):
            if key in self or key in self.reserved:
                raise ValueError(self._taken.format(kind=self.kind, name=key))
        self.entries[name] = obj
        for alias in aliases:
            self.aliases[alias] = name
        return obj

    def get(self, name):
        """The object registered under ``name`` (or an alias); a ValueError listing the valid names otherwise."""
        key = name if self._lookup_key is None else self._lookup_key(name)
        try:
            return self.entries[self.aliases.get(key, key)]
        except KeyError:
            raise unknown_name_error(self.kind, name, self.known()) from None

    def names(self):
        """Registered names, sorted (aliases excluded)."""
        return sorted(self.entries)

    def known(self):
        """Every name a lookup accepts or a caller resolves: registered names, aliases and reserved names."""
        return [*self.entries, *self.aliases, *self.reserved]
