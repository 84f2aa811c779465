/**
 * `compute` remembered by its argument, for pure functions the gRPC API
 * calls again and again with the same few values (JIDs a backend asks
 * about, the presence stanzas of online sessions). Bounded: at `max`
 * entries the map is emptied and fills again, which costs one recomputation
 * per live key and needs no bookkeeping per hit.
 */
export function remembered<K, V>(max: number, compute: (key: K) => V): (key: K) => V {
  const known = new Map<K, V>();
  return (key) => {
    let v = known.get(key);
    if (v === undefined) {
      v = compute(key);
      if (known.size >= max) known.clear();
      known.set(key, v);
    }
    return v;
  };
}
