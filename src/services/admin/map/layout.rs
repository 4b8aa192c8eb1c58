//! A small layered (Sugiyama-style) layout for the workflow map, top to bottom:
//!
//! 1. cycles broken by reversing the back edges a depth-first search from the start
//!    finds (self loops are set aside and drawn as loops);
//! 2. each node ranked by its longest path from the sources (the start first);
//! 3. edges spanning several ranks cut into one-rank pieces through dummy nodes, which
//!    become the bends of the drawn edge;
//! 4. the order within each rank improved by barycenter sweeps, down then up, keeping
//!    the order with the fewest crossings seen;
//! 5. x pulled towards the neighbours' mean, then pushed apart so that nothing in a rank
//!    overlaps; every node has the same fixed size.
//!
//! It knows nothing of workflows: nodes are indices, edges pairs of them.

/// Room between ranks (edges and their labels run there) and between nodes in a rank.
const RANK_GAP: f64 = 64.0;
const NODE_GAP: f64 = 40.0;
/// Width a dummy node (an edge's bend) takes in its rank.
const DUMMY_WIDTH: f64 = 24.0;
const MARGIN: f64 = 24.0;
/// How far a self loop reaches out of its node's right side.
const LOOP_REACH: f64 = 28.0;
const SWEEPS: usize = 6;

/// A placed node: its top-left corner and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl Rect {
    pub fn center_x(&self) -> f64 {
        self.x + self.width / 2.0
    }

    #[cfg(test)]
    pub fn overlaps(&self, other: &Rect) -> bool {
        self.x < other.x + other.width
            && other.x < self.x + self.width
            && self.y < other.y + other.height
            && other.y < self.y + self.height
    }
}

#[derive(Debug, Clone)]
pub struct Layout {
    /// One rectangle per node, in the order given.
    pub nodes: Vec<Rect>,
    /// One polyline per edge, in the order given, from the source's border to the
    /// target's (where the arrow goes).
    pub edges: Vec<Vec<(f64, f64)>>,
    pub width: f64,
    pub height: f64,
}

/// The graph being laid out: real nodes first, then the dummies.
struct Graph {
    rank: Vec<usize>,
    /// Edges between adjacent ranks, upper end first.
    links: Vec<(usize, usize)>,
    /// Per given edge: its nodes from upper to lower rank, and whether it points up.
    chains: Vec<Option<(Vec<usize>, bool)>>,
}

/// Lays out `count` nodes of `width` × `height` joined by `edges`; node 0 is the start.
pub fn layout(count: usize, edges: &[(usize, usize)], width: f64, height: f64) -> Layout {
    let graph = Graph::new(count, edges);
    let layers = ordered_layers(&graph);
    let widths: Vec<f64> = (0..graph.rank.len())
        .map(|node| if node < count { width } else { DUMMY_WIDTH })
        .collect();
    let xs = positions(&graph, &layers, &widths);
    let rects: Vec<Rect> = (0..graph.rank.len())
        .map(|node| Rect {
            x: xs[node] - widths[node] / 2.0,
            y: MARGIN + graph.rank[node] as f64 * (height + RANK_GAP),
            width: widths[node],
            height,
        })
        .collect();
    let mut routes: Vec<Vec<(f64, f64)>> = graph
        .chains
        .iter()
        .zip(edges)
        .map(|(chain, &(from, _))| match chain {
            Some((nodes, upward)) => route(nodes, *upward, &rects),
            None => self_loop(&rects[from]),
        })
        .collect();
    spread_ports(&mut routes, &rects[..count]);
    let right = rects.iter().map(|r| r.x + r.width).fold(0.0, f64::max);
    let ranks = layers.len().max(1) as f64;
    Layout {
        nodes: rects.into_iter().take(count).collect(),
        edges: routes,
        width: right + LOOP_REACH + MARGIN,
        height: 2.0 * MARGIN + ranks * height + (ranks - 1.0) * RANK_GAP,
    }
}

impl Graph {
    fn new(count: usize, edges: &[(usize, usize)]) -> Self {
        let upward = back_edges(count, edges);
        // Each edge as it runs in the acyclic graph: upper end first.
        let acyclic: Vec<Option<(usize, usize)>> = edges
            .iter()
            .zip(&upward)
            .map(|(&(from, to), &up)| match (from == to, up) {
                (true, _) => None,
                (false, true) => Some((to, from)),
                (false, false) => Some((from, to)),
            })
            .collect();
        let mut rank = longest_path_ranks(count, &acyclic);
        let mut links = Vec::new();
        let chains = acyclic
            .iter()
            .zip(&upward)
            .map(|(edge, &up)| {
                let (upper, lower) = (*edge)?;
                let mut nodes = vec![upper];
                for r in rank[upper] + 1..rank[lower] {
                    rank.push(r);
                    nodes.push(rank.len() - 1);
                }
                nodes.push(lower);
                links.extend(nodes.windows(2).map(|pair| (pair[0], pair[1])));
                Some((nodes, up))
            })
            .collect();
        Self {
            rank,
            links,
            chains,
        }
    }
}

/// Which edges a depth-first search from node 0 (then from each node not yet reached)
/// finds pointing back up its path; self loops count as back edges.
fn back_edges(count: usize, edges: &[(usize, usize)]) -> Vec<bool> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (index, &(from, _)) in edges.iter().enumerate() {
        out[from].push(index);
    }
    // 0 unseen, 1 on the path, 2 done.
    let mut state = vec![0u8; count];
    let mut back = vec![false; edges.len()];
    for root in 0..count {
        if state[root] != 0 {
            continue;
        }
        state[root] = 1;
        let mut stack = vec![(root, 0usize)];
        while let Some((node, next)) = stack.last_mut() {
            let node = *node;
            let Some(&edge) = out[node].get(*next) else {
                state[node] = 2;
                stack.pop();
                continue;
            };
            *next += 1;
            let to = edges[edge].1;
            match state[to] {
                0 => {
                    state[to] = 1;
                    stack.push((to, 0));
                }
                1 => back[edge] = true,
                _ => {}
            }
        }
    }
    back
}

/// Rank = the longest path to the node from a source, in topological order.
fn longest_path_ranks(count: usize, edges: &[Option<(usize, usize)>]) -> Vec<usize> {
    let mut incoming = vec![0usize; count];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); count];
    for &(from, to) in edges.iter().flatten() {
        incoming[to] += 1;
        out[from].push(to);
    }
    let mut rank = vec![0usize; count];
    let mut ready: Vec<usize> = (0..count).rev().filter(|&n| incoming[n] == 0).collect();
    while let Some(node) = ready.pop() {
        for &to in &out[node] {
            rank[to] = rank[to].max(rank[node] + 1);
            incoming[to] -= 1;
            if incoming[to] == 0 {
                ready.push(to);
            }
        }
    }
    rank
}

/// The nodes of each rank, in the order with the fewest crossings the sweeps found.
fn ordered_layers(graph: &Graph) -> Vec<Vec<usize>> {
    let ranks = graph.rank.iter().max().map_or(0, |top| top + 1);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); ranks];
    for (node, &rank) in graph.rank.iter().enumerate() {
        layers[rank].push(node);
    }
    let mut best = layers.clone();
    let mut fewest = crossings(graph, &layers);
    for sweep in 0..SWEEPS {
        let downward = sweep % 2 == 0;
        let order: Vec<usize> = if downward {
            (1..ranks).collect()
        } else {
            (0..ranks.saturating_sub(1)).rev().collect()
        };
        for rank in order {
            let neighbour = if downward { rank - 1 } else { rank + 1 };
            let place = slots(&layers[neighbour], graph.rank.len());
            let centre = |node: usize, at: usize| {
                let linked: Vec<f64> = graph
                    .links
                    .iter()
                    .filter_map(|&(upper, lower)| match downward {
                        true if lower == node => place[upper],
                        false if upper == node => place[lower],
                        _ => None,
                    })
                    .collect();
                if linked.is_empty() {
                    at as f64
                } else {
                    linked.iter().sum::<f64>() / linked.len() as f64
                }
            };
            let mut keyed: Vec<(f64, usize)> = layers[rank]
                .iter()
                .enumerate()
                .map(|(at, &node)| (centre(node, at), node))
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            layers[rank] = keyed.into_iter().map(|(_, node)| node).collect();
        }
        let now = crossings(graph, &layers);
        if now < fewest {
            fewest = now;
            best = layers.clone();
        }
    }
    best
}

/// Each node's position within `layer`, by node index.
fn slots(layer: &[usize], nodes: usize) -> Vec<Option<f64>> {
    let mut place = vec![None; nodes];
    for (at, &node) in layer.iter().enumerate() {
        place[node] = Some(at as f64);
    }
    place
}

/// Pairs of links between the same two ranks that cross.
fn crossings(graph: &Graph, layers: &[Vec<usize>]) -> usize {
    let mut place = vec![0usize; graph.rank.len()];
    for layer in layers {
        for (at, &node) in layer.iter().enumerate() {
            place[node] = at;
        }
    }
    let mut count = 0;
    for (i, &(a, b)) in graph.links.iter().enumerate() {
        for &(c, d) in &graph.links[i + 1..] {
            let same_ranks = graph.rank[a] == graph.rank[c];
            let (pa, pb, pc, pd) = (place[a], place[b], place[c], place[d]);
            if same_ranks && ((pa < pc && pb > pd) || (pa > pc && pb < pd)) {
                count += 1;
            }
        }
    }
    count
}

/// Centre x of every node: pulled towards the mean of its neighbours (down, then up),
/// then pushed right until nothing in its rank overlaps.
fn positions(graph: &Graph, layers: &[Vec<usize>], widths: &[f64]) -> Vec<f64> {
    let mut x = vec![0.0; graph.rank.len()];
    for layer in layers {
        separate(layer, widths, &mut x);
    }
    for downward in [true, false, true] {
        let order: Vec<&Vec<usize>> = if downward {
            layers.iter().collect()
        } else {
            layers.iter().rev().collect()
        };
        for layer in order {
            for &node in layer {
                let linked: Vec<f64> = graph
                    .links
                    .iter()
                    .filter_map(|&(upper, lower)| match downward {
                        true if lower == node => Some(x[upper]),
                        false if upper == node => Some(x[lower]),
                        _ => None,
                    })
                    .collect();
                if !linked.is_empty() {
                    x[node] = linked.iter().sum::<f64>() / linked.len() as f64;
                }
            }
            separate(layer, widths, &mut x);
        }
    }
    let left = (0..x.len())
        .map(|node| x[node] - widths[node] / 2.0)
        .fold(f64::INFINITY, f64::min);
    let shift = if left.is_finite() { MARGIN - left } else { 0.0 };
    x.iter().map(|centre| centre + shift).collect()
}

/// Pushes the nodes of a rank right, in order, until neighbours keep their gap.
fn separate(layer: &[usize], widths: &[f64], x: &mut [f64]) {
    for pair in layer.windows(2) {
        let (left, right) = (pair[0], pair[1]);
        let least = x[left] + (widths[left] + widths[right]) / 2.0 + NODE_GAP;
        if x[right] < least {
            x[right] = least;
        }
    }
}

/// An edge through its chain: out of the bottom of the upper node, through the bends,
/// into the top of the lower one; an upward edge leaves and enters by the right sides
/// (so it never runs over the downward edge between the same nodes) and is reversed so
/// that it ends at its target.
fn route(chain: &[usize], upward: bool, rects: &[Rect]) -> Vec<(f64, f64)> {
    let last = chain.len() - 1;
    let mut points: Vec<(f64, f64)> = chain
        .iter()
        .enumerate()
        .map(|(at, &node)| {
            let r = &rects[node];
            match (at, upward) {
                (0, false) => (r.center_x(), r.y + r.height),
                (0, true) => (r.x + r.width, r.y + r.height * 0.75),
                (at, false) if at == last => (r.center_x(), r.y),
                (at, true) if at == last => (r.x + r.width, r.y + r.height * 0.25),
                _ => (r.center_x(), r.y + r.height / 2.0),
            }
        })
        .collect();
    if upward {
        points.reverse();
    }
    points
}

/// Edges leaving a node's bottom (or entering its top) meet at its middle: spread them
/// along that side in the order of their other ends, so that arrows and labels part.
fn spread_ports(routes: &mut [Vec<(f64, f64)>], rects: &[Rect]) {
    let at = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 0.01 && (a.1 - b.1).abs() < 0.01;
    for r in rects {
        for top in [false, true] {
            let port = (r.center_x(), if top { r.y } else { r.y + r.height });
            // (route, its other end's x) of every route meeting this port.
            let mut sharing: Vec<(usize, f64)> = routes
                .iter()
                .enumerate()
                .filter_map(|(index, route)| {
                    let (end, towards) = match top {
                        false => (route.first()?, route.get(1)?),
                        true => (route.last()?, route.get(route.len().checked_sub(2)?)?),
                    };
                    at(*end, port).then_some((index, towards.0))
                })
                .collect();
            if sharing.len() < 2 {
                continue;
            }
            sharing.sort_by(|a, b| a.1.total_cmp(&b.1));
            let spaces = (sharing.len() - 1) as f64;
            let step = (r.width * 0.6 / spaces).min(36.0);
            for (n, (index, _)) in sharing.into_iter().enumerate() {
                let route = &mut routes[index];
                let end = if top { route.len() - 1 } else { 0 };
                route[end].0 += (n as f64 - spaces / 2.0) * step;
            }
        }
    }
}

fn self_loop(r: &Rect) -> Vec<(f64, f64)> {
    let right = r.x + r.width;
    let (top, bottom) = (r.y + r.height * 0.3, r.y + r.height * 0.7);
    vec![
        (right, bottom),
        (right + LOOP_REACH, bottom),
        (right + LOOP_REACH, top),
        (right, top),
    ]
}
