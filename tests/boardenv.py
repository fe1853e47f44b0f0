"""board/<target>/board.env (KEY=value lines) for the tests, by board or by ARCH."""
import glob
import os

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def read(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                env[k] = v
    return env


def board_env(arch_or_board):
    """The facts of board/<arch_or_board>, else of the board whose BOARD_ARCH it is."""
    p = os.path.join(TOP, "board", arch_or_board, "board.env")
    if os.path.isfile(p):
        return read(p)
    for p in sorted(glob.glob(os.path.join(TOP, "board", "*", "board.env"))):
        env = read(p)
        if env.get("BOARD_ARCH") == arch_or_board:
            return env
    raise KeyError(f"no board/*/board.env with BOARD_ARCH={arch_or_board}")
