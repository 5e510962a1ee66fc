// An insertion-ordered dictionary that enumerates (key, value) tuples (TorchSharp.Utils.OrderedDict).
using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace TorchSharp.Utils
{
    /// <summary>
    /// A dictionary that remembers insertion order; enumerating it yields <c>(key, value)</c> tuples.
    /// Like TorchSharp's, it is both an <see cref="IDictionary{TKey, TValue}"/> and an
    /// <see cref="IList{T}"/> of tuples, and enumerating it as key/value pairs is not supported.
    /// </summary>
    public class OrderedDict<TKey, TValue> : IDictionary<TKey, TValue>, IList<(TKey, TValue)> where TKey : notnull
    {
        private readonly List<(TKey, TValue)> entries = new();
        private readonly Dictionary<TKey, TValue> lookup = new();

        /// <summary>Removes every entry.</summary>
        public void clear() => Clear();

        /// <summary>Enumerates the entries in order.</summary>
        public IEnumerator<(TKey, TValue)> items() => entries.GetEnumerator();

        /// <summary>The keys.</summary>
        public IEnumerable<TKey> keys() => lookup.Keys;

        /// <summary>The values.</summary>
        public IEnumerable<TValue> values() => lookup.Values;

        /// <summary>The entry at a position; setting it replaces the entry there and sets the key's value.</summary>
        public (TKey, TValue) this[int index] {
            get => entries[index];
            set {
                entries[index] = value;
                lookup[value.Item1] = value.Item2;
            }
        }

        /// <summary>The value of a key; setting a new key appends it.</summary>
        public TValue this[TKey key] {
            get => lookup[key];
            set {
                lookup[key] = value;
                var at = FindIndex(key);
                if (at >= 0) entries[at] = (key, value);
                else entries.Add((key, value));
            }
        }

        public bool IsReadOnly => false;

        public ICollection<TKey> Keys => entries.Select(e => e.Item1).ToList();

        public ICollection<TValue> Values => entries.Select(e => e.Item2).ToList();

        public int Count => lookup.Count;

        public void Add((TKey, TValue) item) => Add(item.Item1, item.Item2);

        public void Add(TKey key, TValue value)
        {
            lookup.Add(key, value);
            entries.Add((key, value));
        }

        public void Add(KeyValuePair<TKey, TValue> item) => Add(item.Key, item.Value);

        public bool Contains((TKey, TValue) item) => entries.Contains(item);

        public bool Contains(KeyValuePair<TKey, TValue> item) => lookup.ContainsKey(item.Key);

        public bool ContainsKey(TKey key) => lookup.ContainsKey(key);

        public void CopyTo((TKey, TValue)[] array, int arrayIndex) => entries.CopyTo(array, arrayIndex);

        public void CopyTo(KeyValuePair<TKey, TValue>[] array, int arrayIndex) => throw new NotImplementedException();

        public int IndexOf((TKey, TValue) item) => entries.IndexOf(item);

        public void Insert(int index, (TKey, TValue) item)
        {
            lookup.Add(item.Item1, item.Item2);
            entries.Insert(index, item);
        }

        public bool Remove((TKey, TValue) item)
        {
            lookup.Remove(item.Item1);
            return entries.Remove(item);
        }

        public bool Remove(TKey key)
        {
            if (!lookup.ContainsKey(key)) throw new KeyNotFoundException($"The given key '{key}' was not present in the dictionary.");
            entries.RemoveAt(FindIndex(key));
            return lookup.Remove(key);
        }

        public bool Remove(KeyValuePair<TKey, TValue> item) => lookup.Remove(item.Key);

        public void RemoveAt(int index)
        {
            if (index >= entries.Count) throw new IndexOutOfRangeException();
            var key = entries[index].Item1;
            entries.RemoveAt(index);
            lookup.Remove(key);
        }

        public bool TryGetValue(TKey key, [MaybeNullWhen(false)] out TValue value) => lookup.TryGetValue(key, out value);

        public void Clear()
        {
            lookup.Clear();
            entries.Clear();
        }

        public IEnumerator<(TKey, TValue)> GetEnumerator() => entries.GetEnumerator();

        IEnumerator<KeyValuePair<TKey, TValue>> IEnumerable<KeyValuePair<TKey, TValue>>.GetEnumerator() => throw new NotImplementedException();

        IEnumerator IEnumerable.GetEnumerator() => ((IEnumerable<KeyValuePair<TKey, TValue>>)this).GetEnumerator();

        private int FindIndex(TKey key)
        {
            var comparer = EqualityComparer<TKey>.Default;
            for (int i = 0; i < entries.Count; i++) {
                if (comparer.Equals(entries[i].Item1, key)) return i;
            }
            return -1;
        }
    }
}
