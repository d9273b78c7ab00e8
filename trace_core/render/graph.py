"""The commit graph drawn as text, in the style of `git log --graph` (layout only; no printing).

`graph_log(repo, revs)` reads the commits from the SQLite commit index, orders them children
before parents (ties: newest commit time first, then the higher generation), and lays them out in
lanes: one row per commit (`* ` in its lane, `|` for the other lanes) and connector rows between
commits where lanes fork (`\\`), join (`/`) or cross (`_`).

The layout keeps one lane per commit that is still expected (a parent of a drawn commit). A
commit takes the lane that waits for it, or a new lane on the right. After it, its lane waits for
its first parent, and each further parent gets a new lane to its right (all lanes right of it
shift one lane to the right per new lane) unless a lane already waits for that parent. Lanes that
wait for the same commit are then joined into the leftmost of them, one character per row, so an
edge never moves right except when a merge opens lanes, and edges cross only where they must.
A merge of more than two parents draws `*-.` (a dash pair per extra parent) like git.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..state import RepoState

#: number of lane colors the layout cycles through (the CLI maps them to terminal colors)
N_COLORS = 6


class GraphRow(tuple):
    """One line of the drawing (a tuple, so that 10,000 of them are cheap to make).

    `graph` is the lane prefix (commit rows are padded to the width of the graph at that commit
    so their text lines up; connector rows have no trailing spaces). `commit` is the raw id of
    the commit drawn on this row, None for a connector row; `parents` are its drawn parents.
    `colors` (only when asked for) holds the lane color index (0..N_COLORS-1, or -1 for none)
    of each character of `graph`.
    """

    __slots__ = ()
    _fields = ("graph", "commit", "parents", "summary", "op", "labels", "colors")

    def __new__(cls, graph: str, commit: bytes | None = None, parents: tuple = (),
                summary: str = "", op: str = "", labels: tuple = (),
                colors: tuple | None = None) -> GraphRow:
        return tuple.__new__(cls, (graph, commit, parents, summary, op, labels, colors))

    def __repr__(self) -> str:
        fields = zip(self._fields, self, strict=True)
        return "GraphRow(" + ", ".join(f"{k}={v!r}" for k, v in fields) + ")"

    graph = property(itemgetter(0))
    commit = property(itemgetter(1))
    parents = property(itemgetter(2))
    summary = property(itemgetter(3))
    op = property(itemgetter(4))
    labels = property(itemgetter(5))
    colors = property(itemgetter(6))

    @property
    def lane(self) -> int:
        """The lane of the commit on this row (the column of its `*`; lanes are two characters
        wide). Only for commit rows."""
        return self[0].index("*") // 2


# -- ordering ---------------------------------------------------------------------------------
def _priority(row: tuple) -> tuple:
    """Among commits whose children are all placed: newest time first, then the higher
    generation, then the id (rows: id, parents, generation, time_ms, ...)."""
    return (-row[3], -row[2], row[0])


def topo_order(rows: Sequence[tuple], parents: dict[bytes, tuple]) -> list[tuple]:
    """`rows` (id, parents, generation, time_ms, ...) reordered so that every commit comes before
    its parents (`parents`: the drawn parents of each id); among the commits whose children are
    all placed, `_priority` decides. Parents that are not in `rows` are ignored."""
    rows = sorted(rows, key=_priority)     # a walk's order is nearly this: cheap to sort
    pos = {r[0]: i for i, r in enumerate(rows)}
    get = pos.get
    for i, r in enumerate(rows):
        for p in parents[r[0]]:
            if get(p, i) < i:
                break
        else:
            continue
        break
    else:
        return rows                        # already children first (no clock skew)
    waiting = dict.fromkeys(pos, 0)        # number of children not yet placed
    for r in rows:
        for p in parents[r[0]]:
            if p in waiting:
                waiting[p] += 1
    ready = [i for i, r in enumerate(rows) if not waiting[r[0]]]
    heapq.heapify(ready)
    out = []
    push, pop = heapq.heappush, heapq.heappop
    while ready:
        r = rows[pop(ready)]
        out.append(r)
        for p in parents[r[0]]:
            n = waiting.get(p)
            if n is not None:
                if n == 1:
                    push(ready, pos[p])
                waiting[p] = n - 1
    return out


def first_commits(get_row: Callable[[bytes], tuple], starts: Iterable[bytes], count: int,
                  max_reads: int) -> list[tuple] | None:
    """The first `count` rows of `topo_order` over everything reachable from `starts`, reading
    only as much history as that takes; None once more than `max_reads` rows were read (then
    reading everything at once is cheaper). `get_row(id)` -> (id, parents, generation, time_ms,
    ...).

    A commit can be placed when its children are; a child always has a higher generation than
    its parent, so once every commit above a generation has been expanded (read with its
    parents), a commit at that generation has no unknown children. Commits are expanded highest
    generation first; the best candidate by `_priority` is placed as soon as that makes it
    certain, else the next commit is expanded."""
    rows: dict = {}
    frontier: list = []          # (-generation, id) of commits read but not yet expanded
    expanded: set = set()
    waiting: dict = {}           # id -> children expanded but not placed yet
    candidates: list = []        # (priority, id) of commits without waiting children
    for oid in dict.fromkeys(starts):
        r = rows[oid] = get_row(oid)
        heapq.heappush(frontier, (-r[2], oid))
        waiting[oid] = 0
        heapq.heappush(candidates, (_priority(r), oid))
    out: list = []
    placed: set = set()

    def expand(oid: bytes) -> None:
        expanded.add(oid)
        for p in rows[oid][1]:
            if p not in rows:
                if len(rows) >= max_reads:
                    raise _TooMuch
                rp = rows[p] = get_row(p)
                heapq.heappush(frontier, (-rp[2], p))
            waiting[p] = waiting.get(p, 0) + 1

    try:
        while len(out) < count and candidates:
            _, oid = candidates[0]
            if oid in placed or waiting[oid]:
                heapq.heappop(candidates)        # stale: placed, or a child turned up
                continue
            while frontier and frontier[0][1] in expanded:
                heapq.heappop(frontier)
            top = -frontier[0][0] if frontier else 0
            if rows[oid][2] < top:               # a commit above it may still be its child
                expand(heapq.heappop(frontier)[1])
                continue
            heapq.heappop(candidates)
            if oid not in expanded:
                expand(oid)
            placed.add(oid)
            out.append(rows[oid])
            for p in rows[oid][1]:
                waiting[p] -= 1
                if not waiting[p]:
                    heapq.heappush(candidates, (_priority(rows[p]), p))
    except _TooMuch:
        return None
    return out


class _TooMuch(Exception):
    pass


# -- layout -----------------------------------------------------------------------------------
class _Canvas:
    """One connector or commit row being drawn: characters and their colors by position."""

    __slots__ = ("chars", "colors")

    def __init__(self) -> None:
        self.chars: dict = {}
        self.colors: dict = {}

    def put(self, x: int, ch: str, color: int) -> None:
        if x >= 0 and x not in self.chars:     # the first mark at a position wins
            self.chars[x] = ch
            self.colors[x] = color

    def render(self, width: int = 0) -> tuple[str, tuple]:
        n = max(max(self.chars, default=-1) + 1, width)
        text = "".join(self.chars.get(i, " ") for i in range(n))
        return text, tuple(self.colors.get(i, -1) for i in range(n))


class GraphLayout:
    """Lays out commits given children first: `add(oid, parents)` returns the rows that draw it
    (pre-commit rows of a wide merge, the commit row, then the connector rows below it) as
    (text, colors, is_commit_row) triples; colors is None unless `colors` was asked for."""

    def __init__(self, colors: bool = False) -> None:
        self.lanes: list = []       # the commit each lane waits for
        self.lane_colors: list = []
        self.want_colors = colors
        self._next_color = 0
        self._arrived: set = set()  # lanes an edge reached from the right on the last row
        self._plain: dict = {}      # (lane, lanes) -> the row of a commit that changes no lane

    def _color(self) -> int:
        c = self._next_color
        self._next_color = (c + 1) % N_COLORS
        return c

    def add(self, oid: bytes, parents: Sequence[bytes]) -> list:
        lanes = self.lanes
        # the common case: a commit in its lane whose one parent no other lane waits for (every
        # commit of a linear history): the parent takes its lane, nothing else moves
        if len(parents) == 1 and not self._arrived and parents[0] not in lanes:
            try:
                idx = lanes.index(oid)
            except ValueError:
                idx = -1
            if idx >= 0:
                lanes[idx] = parents[0]
                n = len(lanes)
                text = self._plain.get((idx, n))
                if text is None:
                    text = self._plain[(idx, n)] = "| " * idx + "* " + "| " * (n - idx - 1)
                cols = None
                if self.want_colors:
                    cols = tuple(-1 if j % 2 or j == 2 * idx else self.lane_colors[j // 2]
                                 for j in range(2 * n))
                return [(text, cols, True)]
        rows = self._add(oid, parents)
        if not self.want_colors:
            rows = [(text, None, is_commit) for text, _, is_commit in rows]
        return rows

    def _add(self, oid: bytes, parents: Sequence[bytes]) -> list:
        lanes, colors = self.lanes, self.lane_colors
        try:
            idx = lanes.index(oid)
        except ValueError:                   # no child drawn yet: a new lane on the right
            idx = len(lanes)
            lanes.append(oid)
            colors.append(self._color())
        ps = list(dict.fromkeys(parents))
        n_ps = len(ps)
        # the lanes after this commit before joining duplicates: lane i > idx is post[i + n_ps - 1]
        post = lanes[:idx] + ps + lanes[idx + 1:]
        post_colors = colors[:idx] + [colors[idx]] + [-2] * (n_ps - 1) + colors[idx + 1:] \
            if n_ps else colors[:idx] + colors[idx + 1:]
        new: list = []
        new_colors: list = []
        where: dict = {}
        targets = []
        for k, c in enumerate(post):
            t = where.get(c)
            if t is None:
                t = where[c] = len(new)
                new.append(c)
                col = post_colors[k]
                new_colors.append(self._color() if col == -2 else col)
            targets.append(t)
        # edges [x, target lane, role]: role 0 a lane left of the commit, 1 one of its parents,
        # 2 a lane right of it. Parents that open lanes to the right leave a wide merge from
        # consecutive positions (after its dashes).
        edges = [[2 * k, targets[k], 0] for k in range(idx)]
        opening = [j for j in range(1, n_ps) if targets[idx + j] > idx]
        dashes = max(0, len(opening) - 1)
        for j in range(n_ps):
            x = 2 * idx + (2 * opening.index(j) if j in opening else 0)
            edges.append([x, targets[idx + j], 1])
        right = [[2 * i, targets[i + n_ps - 1], 2] for i in range(idx + 1, len(lanes))]
        edges.extend(right)
        rows = []
        shift = 0
        if right and dashes:
            # pre-commit rows: move the lanes right of a wide merge out of the way of its dashes
            for _ in range(dashes):
                cv = _Canvas()
                for i in range(idx + 1):
                    cv.put(2 * i, "|", colors[i])
                for e in right:
                    cv.put(e[0] + 1, "\\", new_colors[e[1]])
                    e[0] += 2
                rows.append((*cv.render(), False))
            shift = 2 * dashes
        # the commit row
        cv = _Canvas()
        arrived = self._arrived
        for i in range(len(lanes)):
            if i == idx:
                cv.put(2 * i, "*", -1)
                for d in range(2 * dashes):
                    col = new_colors[targets[idx + opening[d // 2 + 1]]]
                    cv.put(2 * i + 1 + d, "." if d == 2 * dashes - 1 else "-", col)
                continue
            k = i if i < idx else i + n_ps - 1
            x = 2 * i + (shift if i > idx else 0)
            # an edge that reached this lane on the last row and keeps moving left (as git)
            slash = i in arrived and n_ps < 2 and targets[k] < i   # moves left on the next row
            cv.put(x, "/" if slash else "|", colors[i])
        width = max(_width(targets, idx, n_ps, len(lanes)), 2 * len(lanes) + shift)
        rows.append((*cv.render(width), True))
        # connector rows until every edge is in its lane
        merge_row = n_ps >= 2
        # a merge that opens lanes shifts the lanes on its right, unless its last new lane is
        # the one the lane right of it waits for: then the two join at once (`|\\|`)
        k = idx + n_ps
        widen = bool(opening) and not (not dashes and k < len(targets)
                                       and targets[k] == targets[idx + opening[-1]])
        guard = 4 * len(post) + 8
        collapsed = False
        while merge_row or any(e[0] - 2 * e[1] not in (0, 1) for e in edges):
            edges, row = _step(edges, new_colors, merge_row, widen)
            collapsed = not merge_row
            merge_row = False
            rows.append(row)
            guard -= 1
            if guard <= 0:     # the rules always converge; never loop forever regardless
                break
        self._arrived = {e[1] for e in edges if e[0] == 2 * e[1] + 1} if collapsed else set()
        self.lanes, self.lane_colors = new, new_colors
        return rows


def _width(targets: list, idx: int, n_ps: int, n_lanes: int) -> int:
    """Characters a commit row takes, so that its text lines up (as git pads): two per lane
    after the commit before lanes join, less one lane when a merge's first parent joins a lane
    on its left or its last new lane joins the lane right of it at once; a commit without
    parents still takes its own lane."""
    if n_ps == 0:
        return 2 * n_lanes
    n = len(targets)
    if n_ps > 1:
        if targets[idx] < idx:
            n -= 1
        k = idx + n_ps
        if k < len(targets) and targets[k] == targets[k - 1]:
            n -= 1
    return 2 * n


def _first(e: list) -> int:
    return e[0]


def _step(edges: list, colors: list, merge_row: bool, widen: bool) -> tuple:
    """Move every edge one step towards its lane: returns the edges after the row, and the row.

    Right of its lane an edge moves left one character (`/`), or two to cross a lane in the way;
    the first edge of a row with a long way to go draws a horizontal run (`_`) over the lanes it
    crosses. Left of its lane (only below a merge) it moves right one lane (`\\`). An edge that
    meets one with the same target joins it. On a merge's first row only the merge's own edges
    move, and the lanes on its right shift one lane right if it opens lanes (`widen`)."""
    cv = _Canvas()
    at: dict = {}        # position -> target of the edge that took it on this row
    out = []
    placed: set = set()
    horizontal = False
    for e in sorted(edges, key=_first):      # stable: a merge's first parent goes first
        x, t, role = e
        col = colors[t]
        home = 2 * t
        if merge_row and role == 2 and widen:
            nx, mark, ch = x + 2, x + 1, "\\"              # make room for the merge's lanes
        elif merge_row and role != 1 and home <= x:
            nx, mark, ch = x, x, "|"
        elif x < home:
            nx, mark, ch = x + 2, x + 1, "\\"
        elif x <= home + 1:
            nx, mark, ch = home, home, "|"
        else:
            occupant = at.get(x - 1)
            if occupant is None:
                nx, mark, ch = x - 1, x - 1, "/"
                lo = home + 3
                if not horizontal and not merge_row and x % 2 == 0 and lo < x - 2 and \
                        all(j not in at for j in range(lo, x - 2, 2)):
                    horizontal = True
                    for j in range(lo, x - 2, 2):
                        cv.put(j, "_", col)
                    nx = lo
            elif occupant == t:
                continue                                   # joins the edge on its left
            elif x % 2 and at.get(x - 2, t) == t:
                nx, mark, ch = x - 2, x - 2, "/"           # crosses the lane on its left
                horizontal = True
            else:
                nx, mark, ch = x, x, "|" if x % 2 == 0 else "/"   # waits a row
        cv.put(mark, ch, col)
        if (nx, t) in placed:
            continue                                       # joins an edge to the same lane
        placed.add((nx, t))
        at.setdefault(nx, t)
        out.append([nx, t, role])
    text, cols = cv.render()
    text = text.rstrip()
    return out, (text, cols[:len(text)], False)


def layout(commits: Iterable[tuple[bytes, Sequence[bytes]]],
           colors: bool = False) -> Iterator[tuple]:
    """Rows (text, colors, commit id or None) for commits given children first, each with the
    parents that are drawn (parents left out of the drawing must be left out here too)."""
    g = GraphLayout(colors)
    for oid, parents in commits:
        for text, colors, is_commit in g.add(oid, parents):
            yield text, colors, oid if is_commit else None


# -- the repository's graph -------------------------------------------------------------------
def graph_log(repo: RepoState, revs: Sequence[str] = (), *, all_refs: bool = False,
              limit: int | None = None, colors: bool = False) -> list[GraphRow]:
    """The commits reachable from `revs` (default HEAD; `^X` and `X..Y` exclude X's history),
    or from every branch, tag and HEAD of the current namespace with `all_refs`, drawn as rows:
    children before parents, ties newest first. `limit` keeps the first `limit` commits (and
    the connector rows drawn below the last of them). Rows carry the commit's parents (those
    drawn), summary, operation and ref labels; `colors` adds the lane color of each character.
    """
    from ..errors import InputError, OperationError
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InputError(f"limit must be a non-negative integer, got {limit!r}")
    from ..index.sqlite_index import split_parents
    from ..plumbing.revparse import resolve_commit, split_ranges
    include, exclude = split_ranges(revs)
    starts: list[bytes] = [resolve_commit(repo, r) for r in include]
    if all_refs:
        for _, raw in repo.refs.list("refs/"):
            oid = _hex_commit(repo, raw)
            if oid is not None:
                starts.append(oid)
        head = repo.refs.resolve("HEAD")
        if head:
            oid = _hex_commit(repo, head)
            if oid is not None:
                starts.append(oid)
    elif not include:
        if repo.head_commit() is None:
            raise OperationError("your current branch has no commits yet")
        starts.append(resolve_commit(repo, "HEAD"))
    stops = [resolve_commit(repo, r) for r in exclude]
    if limit == 0 or not starts:
        return []
    order = None
    if limit is not None and not stops:
        # the first commits only: read as little history as that takes
        read = repo.index.row_reader(("summary", "op"))   # reads parent chains ahead

        def get_row(oid: bytes) -> tuple:
            r = read(oid)
            return (r[0], split_parents(r[1]), *r[2:])
        order = first_commits(get_row, starts, limit, 4 * limit + 256)
        parents = {r[0]: r[1] for r in order} if order is not None else {}
    if order is None:
        walk = list(repo.index.walk_raw(starts, stops, None, False, ("summary", "op")))
        times = {r[0]: r[3] for r in walk}
        parents = {}
        skew = False          # a parent newer than its child
        for r in walk:
            ps = r[1]
            if len(ps) == 32:
                t = times.get(ps)
                if t is None:
                    parents[r[0]] = ()
                else:
                    parents[r[0]] = (ps,)
                    skew = skew or t > r[3]
            else:
                ps = tuple(p for p in split_parents(ps) if p in times)
                parents[r[0]] = ps
                skew = skew or any(times[p] > r[3] for p in ps)
        # without skew every parent sorts after its children, and a walk newest-first (ties:
        # higher generation first) is already the order topo_order would give
        order = topo_order(walk, parents) if skew else walk
        if limit is not None:
            del order[limit:]
    from .labels import ref_labels
    labels = ref_labels(repo)
    rows: list[GraphRow] = []
    add = rows.append
    layout_add = GraphLayout(colors).add
    make = tuple.__new__
    get_labels = labels.get
    for r in order:
        oid = r[0]
        ps = parents[oid]
        for text, cols, is_commit in layout_add(oid, ps):
            if is_commit:
                add(make(GraphRow, (text, oid, ps, r[4], r[5], tuple(get_labels(oid, ())), cols)))
            else:
                add(make(GraphRow, (text, None, (), "", "", (), cols)))
    return rows


def _hex_commit(repo, hexid: str) -> bytes | None:
    """The commit a ref value names, or None if it names something else (or nothing)."""
    from ..errors import TraceError
    from ..ids import is_hex_id
    from ..plumbing.revparse import resolve_commit
    if not is_hex_id(hexid):
        return None
    try:
        return resolve_commit(repo, hexid)
    except TraceError:
        return None
