// nn.ModuleList: a list of modules, registered as "0", "1", ... when its parent registers it.
using System.Collections;
using static TorchSharp.torch;

namespace TorchSharp
{
    namespace Modules
    {
        /// <summary>
        /// Holds modules in a list. Its items are registered (as "0", "1", ...) only when the list's own
        /// components are registered, i.e. when a parent registers the list; later changes to the list
        /// (indexer, Add, Insert, ...) change what enumeration sees but not the registration.
        /// </summary>
        public class ModuleList<T> : nn.Module, IList<T> where T : nn.Module
        {
            private List<T> _list = new();
            private bool _registered;

            public ModuleList(params T[] modules) : base("ModuleList")
            {
                if (modules is { Length: > 0 }) _list.AddRange(modules);
            }

            protected override void RegisterComponents()
            {
                if (_registered) return;
                for (int i = 0; i < _list.Count; i++) {
                    register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), _list[i]);
                }
                _registered = true;
            }

            public T this[int index] {
                get => _list[index];
                set => _list[index] = value;
            }

            public int Count => _list.Count;

            public bool IsReadOnly => false;

            public void Add(T item) => _list.Add(item);

            /// <summary>Appends modules to the end of the list.</summary>
            public void append(params T[] parameters)
            {
                if (parameters is { Length: > 0 }) _list.AddRange(parameters);
            }

            /// <summary>Appends modules to the end of the list.</summary>
            public void extend(IEnumerable<T> modules) => _list.AddRange(modules);

            public void Clear() => _list.Clear();

            public bool Contains(T item) => _list.Contains(item);

            public void CopyTo(T[] array, int arrayIndex) => _list.CopyTo(array, arrayIndex);

            public IEnumerator<T> GetEnumerator() => _list.GetEnumerator();

            IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

            public int IndexOf(T item) => _list.IndexOf(item);

            public void Insert(int index, T item) => _list.Insert(index, item);

            public bool Remove(T item) => _list.Remove(item);

            public void RemoveAt(int index) => _list.RemoveAt(index);
        }
    }

    public static partial class torch
    {
        public static partial class nn
        {
            /// <summary>A ModuleList of modules.</summary>
            public static Modules.ModuleList<Module> ModuleList(params Module[] modules) => new(modules);

            /// <summary>A ModuleList of modules of one type.</summary>
            public static Modules.ModuleList<T> ModuleList<T>(params T[] modules) where T : Module => new(modules);
        }
    }
}
