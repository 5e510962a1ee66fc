// nn.Sequential: a chain of tensor-to-tensor modules named "0", "1", ... (or as given).
using System.Runtime.CompilerServices;
using TorchSharp.Modules;
using TorchSharp.PInvoke;
using static TorchSharp.torch;

namespace TorchSharp
{
    namespace Modules
    {
        /// <summary>
        /// Runs its modules one after the other. Like TorchSharp's, it keeps its modules in its own lists
        /// (<c>_modules</c>, <c>_names</c>), not as registered submodules: named_children, named_modules,
        /// named_parameters, named_buffers, train/eval and to() walk those lists, and
        /// <see cref="nn.Module.register_module"/> on a Sequential changes neither them nor forward.
        /// </summary>
        public class Sequential : nn.Module<Tensor, Tensor>
        {
            private List<nn.IModule<Tensor, Tensor>> _modules = new();
            private List<string> _names = new();

            internal Sequential() : base(null, "torch::nn::SequentialImpl")
            {
            }

            /// <summary>Constructor for derived modules: the modules with their names.</summary>
            protected Sequential(params (string name, nn.Module<Tensor, Tensor> submodule)[] modules) : this()
            {
                foreach (var (n, m) in modules) Add(n, m);
            }

            /// <summary>Constructor for derived modules: the modules, named "0", "1", ...</summary>
            protected Sequential(params nn.Module<Tensor, Tensor>[] modules) : this()
            {
                foreach (var m in modules) Add(m);
            }

            /// <summary>Appends a module under a name.</summary>
            public Sequential append(string name, nn.IModule<Tensor, Tensor> module)
            {
                Add(name, module);
                return this;
            }

            /// <summary>Appends a module named by its position.</summary>
            public Sequential append(nn.IModule<Tensor, Tensor> module)
            {
                Add(module);
                return this;
            }

            internal void Add(string name, nn.IModule<Tensor, Tensor> module)
            {
                _ = (nn.Module)module;
                _modules.Add(module);
                _names.Add(name);
            }

            internal void Add(nn.IModule<Tensor, Tensor> module) =>
                Add(_modules.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module);

            public override IEnumerable<(string name, Parameter parameter)> named_parameters(bool recurse = true)
            {
                if (!recurse) yield break;
                var seen = new HashSet<IntPtr> { IntPtr.Zero };
                for (int i = 0; i < _names.Count; i++) {
                    foreach (var (n, p) in ((nn.Module)_modules[i]).named_parameters(true)) {
                        if (!seen.Add(p.handle)) continue;
                        yield return ($"{_names[i]}.{n}", p);
                    }
                }
            }

            public override IEnumerable<(string name, Tensor buffer)> named_buffers(bool recurse = true, bool include_persistent = true)
            {
                if (!recurse) yield break;
                var seen = new HashSet<IntPtr> { IntPtr.Zero };
                for (int i = 0; i < _names.Count; i++) {
                    foreach (var (n, b) in ((nn.Module)_modules[i]).named_buffers(true, include_persistent)) {
                        if (!seen.Add(b.handle)) continue;
                        yield return ($"{_names[i]}.{n}", b);
                    }
                }
            }

            public override IEnumerable<(string name, nn.Module module)> named_children()
            {
                for (int i = 0; i < _names.Count; i++) yield return (_names[i], (nn.Module)_modules[i]);
            }

            public override IEnumerable<(string name, nn.Module module)> named_modules()
            {
                for (int i = 0; i < _names.Count; i++) yield return (_names[i], (nn.Module)_modules[i]);
                for (int i = 0; i < _names.Count; i++) {
                    foreach (var (n, m) in ((nn.Module)_modules[i]).named_modules()) yield return ($"{_names[i]}.{n}", m);
                }
            }

            /// <summary>Feeds the input through each module in turn (intermediate results are disposed).</summary>
            public override Tensor forward(Tensor tensor)
            {
                if (_modules.Count == 0) return Aten.T("aten::alias", "", tensor);
                if (_modules.Count == 1) return _modules[0].call(tensor);

                var t = _modules[0].call(tensor);
                for (int i = 1; i < _modules.Count - 1; i++) {
                    var next = _modules[i].call(t);
                    t.Dispose();
                    t = next;
                }
                var result = _modules[^1].call(t);
                t.Dispose();
                return result;
            }

            public override nn.Module apply(Action<nn.Module> fn)
            {
                foreach (var m in _modules) ((nn.Module)m).apply(fn);
                fn(this);
                return this;
            }

            /// <summary>The number of modules.</summary>
            public int Count => _modules.Count;

            /// <summary>The module at a position.</summary>
            [IndexerName("SequentialItems")]
            public nn.IModule<Tensor, Tensor> this[int index] => _modules[index];

            /// <summary>A new Sequential holding the modules in [start, end).</summary>
            [IndexerName("SequentialItems")]
            public Sequential this[(int? start, int? end) index] => Slice(index.start ?? 0, index.end ?? _modules.Count);

            /// <summary>A new Sequential holding the modules in a range.</summary>
            [IndexerName("SequentialItems")]
            public Sequential this[Range index] => this[(index.Start.GetOffset(_modules.Count), index.End.GetOffset(_modules.Count))];

            private Sequential Slice(int start, int end)
            {
                if (start < 0 || start > _modules.Count) throw new IndexOutOfRangeException($"{start} is not a valid index.");
                if (end < 0 || end > _modules.Count) throw new IndexOutOfRangeException($"{end} is not a valid index.");
                var result = new Sequential();
                for (int i = start; i < end; i++) result.Add(_names[i], _modules[i]);
                return result;
            }

            protected override void Dispose(bool disposing)
            {
                if (disposing) {
                    foreach (var m in _modules) ((nn.Module)m).Dispose();
                }
                base.Dispose(disposing);
            }

            public override void train(bool on = true)
            {
                base.train(on);
                foreach (var m in _modules) ((nn.Module)m).train(on);
            }

            public override void eval()
            {
                base.eval();
                foreach (var m in _modules) ((nn.Module)m).eval();
            }

            protected internal override nn.Module _to(ScalarType dtype, bool non_blocking)
            {
                foreach (var m in _modules) ((nn.Module)m)._to(dtype, non_blocking);
                return this;
            }

            protected internal override nn.Module _to(Device device, ScalarType dtype, bool non_blocking)
            {
                foreach (var m in _modules) ((nn.Module)m)._to(device, dtype, non_blocking);
                return this;
            }

            protected internal override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking)
            {
                foreach (var m in _modules) ((nn.Module)m)._to(deviceType, deviceIndex, non_blocking);
                return this;
            }
        }
    }

    public static partial class torch
    {
        public static partial class nn
        {
            /// <summary>An empty Sequential.</summary>
            public static Sequential Sequential() => new();

            /// <summary>A Sequential of named modules.</summary>
            public static Sequential Sequential(params (string name, Module<Tensor, Tensor> submodule)[] modules)
            {
                var result = Sequential();
                foreach (var (n, m) in modules) result.Add(n, m);
                return result;
            }

            /// <summary>A Sequential of modules named "0", "1", ...</summary>
            public static Sequential Sequential(params Module<Tensor, Tensor>[] modules)
            {
                var result = Sequential();
                foreach (var m in modules) result.Add(m);
                return result;
            }

            /// <summary>A Sequential of named modules.</summary>
            public static Sequential Sequential(params Tuple<string, Module<Tensor, Tensor>>[] modules)
            {
                var result = Sequential();
                foreach (var m in modules) result.Add(m.Item1, m.Item2);
                return result;
            }

            /// <summary>A Sequential of named modules.</summary>
            public static Sequential Sequential(IEnumerable<(string name, Module<Tensor, Tensor> submodule)> modules)
            {
                var result = Sequential();
                foreach (var (n, m) in modules) result.Add(n, m);
                return result;
            }

            /// <summary>A Sequential of named modules.</summary>
            public static Sequential Sequential(IEnumerable<Tuple<string, Module<Tensor, Tensor>>> modules)
            {
                var result = Sequential();
                foreach (var m in modules) result.Add(m.Item1, m.Item2);
                return result;
            }

            /// <summary>A Sequential of modules named "0", "1", ...</summary>
            public static Sequential Sequential(IEnumerable<Module<Tensor, Tensor>> modules)
            {
                var result = Sequential();
                foreach (var m in modules) result.Add(m);
                return result;
            }
        }
    }
}
