"""syslog-ng python parser: tag, keep or drop messages with sigmaline.

The message (``MESSAGE``) is a Windows event as JSON. The parser loads the
C ABI (``libsigmaline.so``) with ctypes, evaluates the message and

* tagged: replaces ``MESSAGE`` with the tagged JSON (``"sigma": [...]``
  added) and returns True;
* unchanged: returns True (the message passes untouched);
* dropped by the mode (``keep``: non-matching, ``drop``: matching): returns
  False, which syslog-ng treats as "this parser does not accept it";
* not a JSON object: passes untouched and is counted as malformed.

Options (``options("key" "value" ...)`` in the config): ``library`` (path of
libsigmaline.so, default: found by the dynamic loader), and every sigmaline
option (``rules``, ``mode``, ``tag_key``, ``profile``, ``watch``,
``max_record_bytes``, ...). See examples/syslog-ng/syslog-ng.conf.
"""

import ctypes

try:
    from syslogng import LogParser
except ImportError:  # outside syslog-ng (tests, linting)
    LogParser = object

_OK, _ERROR = 0, -1
_PASS, _TAGGED, _DROP = 0, 1, 2


def _load(path):
    lib = ctypes.CDLL(path or "libsigmaline.so")
    p, c = ctypes.c_void_p, ctypes.c_char_p
    sig = {
        "sigmaline_options_new": ([], p),
        "sigmaline_options_set": ([p, c, c, ctypes.POINTER(p)], ctypes.c_int),
        "sigmaline_options_free": ([p], None),
        "sigmaline_engine_new": ([p, ctypes.POINTER(p)], p),
        "sigmaline_engine_free": ([p], None),
        "sigmaline_eval_json": (
            [p, c, ctypes.c_size_t, ctypes.POINTER(p), ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(p)],
            ctypes.c_int,
        ),
        "sigmaline_free": ([p], None),
        "sigmaline_error_message": ([p], c),
        "sigmaline_error_free": ([p], None),
    }
    for name, (args, res) in sig.items():
        f = getattr(lib, name)
        f.argtypes, f.restype = args, res
    return lib


class SigmaParser(LogParser):
    """The parser class syslog-ng instantiates (``class("sigmaline_syslogng.SigmaParser")``)."""

    def init(self, options):
        self.lib = _load(options.get("library"))
        lib = self.lib
        opts = lib.sigmaline_options_new()
        err = ctypes.c_void_p()
        try:
            for key, value in options.items():
                if key == "library":
                    continue
                if lib.sigmaline_options_set(opts, key.encode(), str(value).encode(), ctypes.byref(err)) != _OK:
                    raise ValueError(self._take_error(err))
            self.engine = lib.sigmaline_engine_new(opts, ctypes.byref(err))
            if not self.engine:
                raise ValueError(self._take_error(err))
        finally:
            lib.sigmaline_options_free(opts)
        self.malformed = 0
        return True

    def _take_error(self, err):
        msg = self.lib.sigmaline_error_message(err).decode(errors="replace")
        self.lib.sigmaline_error_free(err)
        err.value = None
        return "sigmaline: " + msg

    def parse(self, log_message):
        msg = log_message["MESSAGE"]
        if isinstance(msg, str):
            msg = msg.encode()
        out = ctypes.c_void_p()
        out_len = ctypes.c_size_t()
        r = self.lib.sigmaline_eval_json(self.engine, msg, len(msg), ctypes.byref(out), ctypes.byref(out_len), None)
        if r == _TAGGED:
            log_message["MESSAGE"] = ctypes.string_at(out, out_len.value)
            self.lib.sigmaline_free(out)
            return True
        if r == _DROP:
            return False
        if r == _ERROR:
            self.malformed += 1
        return True

    def deinit(self):
        if getattr(self, "engine", None):
            self.lib.sigmaline_engine_free(self.engine)
            self.engine = None
