// nn.ModuleDict: an ordered dictionary of modules, registered by key when its parent registers it.
using System.Collections;
using System.Diagnostics.CodeAnalysis;
using static TorchSharp.torch;

namespace TorchSharp
{
    namespace Modules
    {
        /// <summary>
        /// Holds modules by name, in insertion order. Its items are registered under their keys only when a
        /// parent registers the dictionary. Like TorchSharp 0.105.x's, it has two indexers (by position and by
        /// key), which makes <c>Module.to</c> throw on any tree that holds one.
        /// </summary>
        public class ModuleDict<T> : nn.Module, IDictionary<string, T>, IList<(string, T)> where T : nn.Module
        {
            private List<(string, T)> _list = new();
            private Dictionary<string, T> _dict = new();
            private bool _registered;

            public ModuleDict() : base("ModuleDict")
            {
            }

            protected override void RegisterComponents()
            {
                if (_registered) return;
                foreach (var (key, module) in _list) register_module(key, module);
                _registered = true;
            }

            /// <summary>Removes every entry.</summary>
            public void clear() => Clear();

            /// <summary>Enumerates the (key, module) entries in order.</summary>
            public IEnumerator<(string, T)> items() => _list.GetEnumerator();

            /// <summary>The keys.</summary>
            public IEnumerable<string> keys() => _dict.Keys;

            /// <summary>The modules.</summary>
            public IEnumerable<T> values() => _dict.Values;

            public (string, T) this[int index] {
                get => _list[index];
                set {
                    _list[index] = value;
                    _dict[value.Item1] = value.Item2;
                }
            }

            public T this[string key] {
                get => _dict[key];
                set {
                    _dict[key] = value;
                    _list[_list.FindIndex(e => e.Item1.Equals(key, StringComparison.Ordinal))] = (key, value);
                }
            }

            public bool IsReadOnly => false;

            public ICollection<string> Keys => _list.Select(e => e.Item1).ToList();

            public ICollection<T> Values => _list.Select(e => e.Item2).ToList();

            public int Count => _dict.Count;

            public void Add((string, T) item) => Add(item.Item1, item.Item2);

            public void Add(string key, T value)
            {
                _dict.Add(key, value);
                _list.Add((key, value));
            }

            public void Add(KeyValuePair<string, T> item) => Add(item.Key, item.Value);

            public bool Contains((string, T) item) => _list.Contains(item);

            public bool Contains(KeyValuePair<string, T> item) => _dict.ContainsKey(item.Key);

            public bool ContainsKey(string key) => _dict.ContainsKey(key);

            public void CopyTo((string, T)[] array, int arrayIndex) => _list.CopyTo(array, arrayIndex);

            public void CopyTo(KeyValuePair<string, T>[] array, int arrayIndex) => throw new NotImplementedException();

            public int IndexOf((string, T) item) => _list.IndexOf(item);

            public void Insert(int index, (string, T) item)
            {
                _dict.Add(item.Item1, item.Item2);
                _list.Insert(index, item);
            }

            public bool Remove((string, T) item)
            {
                _dict.Remove(item.Item1);
                return _list.Remove(item);
            }

            public bool Remove(string key)
            {
                var value = _dict[key];
                return _dict.Remove(key) && _list.Remove((key, value));
            }

            public bool Remove(KeyValuePair<string, T> item) => _dict.Remove(item.Key);

            public void RemoveAt(int index)
            {
                if (index >= _list.Count) throw new IndexOutOfRangeException();
                var key = _list[index].Item1;
                _list.RemoveAt(index);
                _dict.Remove(key);
            }

            public bool TryGetValue(string key, [MaybeNullWhen(false)] out T value) => _dict.TryGetValue(key, out value);

            public void Clear()
            {
                _dict.Clear();
                _list.Clear();
            }

            public IEnumerator<(string, T)> GetEnumerator() => _list.GetEnumerator();

            IEnumerator<KeyValuePair<string, T>> IEnumerable<KeyValuePair<string, T>>.GetEnumerator() => throw new NotImplementedException();

            IEnumerator IEnumerable.GetEnumerator() => ((IEnumerable<KeyValuePair<string, T>>)this).GetEnumerator();
        }
    }

    public static partial class torch
    {
        public static partial class nn
        {
            /// <summary>A ModuleDict of (name, module) entries.</summary>
            public static Modules.ModuleDict<Module> ModuleDict(params (string, Module)[] modules)
            {
                var result = new Modules.ModuleDict<Module>();
                foreach (var entry in modules) result.Add(entry);
                return result;
            }

            /// <summary>A ModuleDict of (name, module) entries of one type.</summary>
            public static Modules.ModuleDict<T> ModuleDict<T>(params (string, T)[] modules) where T : Module
            {
                var result = new Modules.ModuleDict<T>();
                foreach (var entry in modules) result.Add(entry);
                return result;
            }
        }
    }
}
