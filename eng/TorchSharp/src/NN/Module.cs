// torch.nn.Module: the module tree (registration, naming, state dicts, train/eval, to, dispose),
// kept entirely in managed code; TorchSharp's native module object has no counterpart here.
using System.Reflection;
using TorchSharp.Modules;
using TorchSharp.Utils;

namespace TorchSharp
{
    public static partial class torch
    {
        public static partial class nn
        {
            /// <summary>
            /// Base class for all neural network modules. Submodules, parameters and tensors held in fields
            /// are registered by <see cref="RegisterComponents"/> (or when the module is registered in a parent).
            /// </summary>
            public class Module : IDisposable
            {
                // Stand-ins for the state TorchSharp keeps in the native module object.
                private bool isTraining = true;
                private bool isDisposed;
                private readonly string? nativeName;

                private bool _areComponentsRegistered;

                protected DeviceType _deviceType = DeviceType.CPU;
                protected int _deviceIndex = -1;

                protected Utils.OrderedDict<string, Module> _internal_submodules = new();
                protected Utils.OrderedDict<string, (Tensor, bool)> _internal_buffers = new();
                protected Utils.OrderedDict<string, Parameter> _internal_params = new();

                protected string? name;

                /// <summary>Constructor for custom modules, i.e. those defined outside of TorchSharp.</summary>
                /// <param name="name">The name of the module (returned by <see cref="GetName"/>).</param>
                protected Module(string name)
                {
                    this.name = name;
                }

                /// <summary>A module TorchSharp implements over a libtorch C++ module: its name is the C++ class name.</summary>
                private protected Module(string? name, string nativeName)
                {
                    this.name = name;
                    this.nativeName = nativeName;
                }

                ~Module() => Dispose(false);

                /// <summary>Whether the module has been disposed (TorchSharp: its native handle is invalid).</summary>
                internal bool IsInvalid => isDisposed;

                /// <summary>Releases the module's parameters, buffers and submodules.</summary>
                public void Dispose()
                {
                    Dispose(true);
                    GC.SuppressFinalize(this);
                }

                /// <summary>Implements the .NET Dispose pattern.</summary>
                protected virtual void Dispose(bool disposing)
                {
                    if (!disposing || isDisposed) return;

                    foreach (var (_, b) in named_buffers(false)) b.DetachFromDisposeScope().Dispose();
                    foreach (var (_, p) in named_parameters(false)) p.DetachFromDisposeScope().Dispose();
                    foreach (var (_, m) in named_modules()) m.Dispose();
                    isDisposed = true;
                }

                // ---- moving and converting ------------------------------------------------------

                /// <summary>Moves and converts the parameters and buffers.</summary>
                protected internal virtual Module _to(Device device, ScalarType dtype, bool non_blocking)
                {
                    if (!IsFloatingOrComplex(dtype))
                        throw new ArgumentException($"nn.Module.to only accepts floating point or complex types, but got desired dtype={dtype}");
                    if (device.type != DeviceType.CUDA) device = new Device(device.type, -1);
                    if (device.type == DeviceType.CUDA && !cuda.is_available()) throw new InvalidOperationException("CUDA is not available.");

                    NativeModuleTo(dtype, device);
                    _toEpilog(device, dtype, non_blocking);
                    return this;
                }

                /// <summary>Moves the parameters and buffers.</summary>
                protected internal virtual Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking)
                {
                    if (deviceType != DeviceType.CUDA) deviceIndex = -1;
                    if (deviceType == DeviceType.CUDA && !cuda.is_available()) throw new InvalidOperationException("CUDA is not available.");

                    if (deviceType != _deviceType || deviceIndex != _deviceIndex) {
                        NativeModuleTo(null, new Device(deviceType, deviceIndex));
                        _toEpilog(deviceType, deviceIndex, non_blocking);
                    }
                    return this;
                }

                /// <summary>Converts the parameters and buffers.</summary>
                protected internal virtual Module _to(ScalarType dtype, bool non_blocking)
                {
                    if (!IsFloatingOrComplex(dtype))
                        throw new ArgumentException($"nn.Module.to only accepts floating point or complex types, but got desired dtype={dtype}");

                    NativeModuleTo(dtype, null);
                    _toEpilog(dtype, non_blocking);
                    return this;
                }

                /// <summary>Moves and converts the parameters and buffers to the type and device of a tensor.</summary>
                public Module _to(Tensor other, bool non_blocking)
                {
                    _to(other.dtype, non_blocking);
                    return _to(other.device_type, other.device_index, non_blocking);
                }

                /// <summary>
                /// What libtorch's C++ Module::to does for modules TorchSharp implements natively: converts the
                /// module's own registered tensors in place (the Parameter objects stay). Custom modules have
                /// nothing registered natively, so for them this does nothing.
                /// </summary>
                private protected virtual void NativeModuleTo(ScalarType? dtype, Device? device)
                {
                }

                protected void _toEpilog(ScalarType dtype, bool non_blocking) => _toEpilog(dtype, null, non_blocking);

                protected void _toEpilog(Device device, ScalarType dtype, bool non_blocking) => _toEpilog(dtype, device, non_blocking);

                protected void _toEpilog(DeviceType deviceType, int deviceIndex, bool non_blocking) => _toEpilog(null, new Device(deviceType, deviceIndex), non_blocking);

                /// <summary>
                /// Moves the children, then replaces each of this module's parameters and (persistent) buffers that
                /// must change with a converted copy: through the public property of the same name if there is one,
                /// otherwise by re-registering it and setting the field it came from.
                /// </summary>
                protected virtual void _toEpilog(ScalarType? dtype, Device? device, bool non_blocking)
                {
                    if (dtype is null && device is null) throw new ArgumentNullException($"{nameof(dtype)} and {nameof(device)} are both null,");

                    foreach (var (_, child) in named_children()) {
                        if (device is null) child._to(dtype!.Value, non_blocking);
                        else if (dtype is null) child._to(device.type, device.index, non_blocking);
                        else child._to(device, dtype.Value, non_blocking);
                    }

                    // Both lookups throw on duplicate names, as TorchSharp's do (a type with two indexers has
                    // two properties named "Item": ModuleDict cannot be moved).
                    var fieldsByComponentName = GetFieldsRecursive(GetType(), BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Instance)
                        .ToDictionary(f => f.ComponentName());
                    var propsByName = GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).ToDictionary(p => p.Name);

                    foreach (var (pname, param) in named_parameters(false).ToList()) {
                        if (!ReplaceParameter(dtype, device, param, out var p)) continue;
                        if (propsByName.TryGetValue(pname, out var property)) {
                            property.SetValue(this, p);
                        } else {
                            param?.Dispose();
                            ConditionallyRegisterParameter(pname, p);
                            if (fieldsByComponentName.TryGetValue(pname, out var field)) field.SetValue(this, p);
                        }
                    }

                    foreach (var (bname, buffer) in named_buffers(false).ToList()) {
                        if (!ReplaceBuffer(dtype, device, buffer, out var t)) continue;
                        if (propsByName.TryGetValue(bname, out var property)) {
                            property.SetValue(this, t);
                        } else {
                            ConditionallyRegisterBuffer(bname, t);
                            if (fieldsByComponentName.TryGetValue(bname, out var field)) field.SetValue(this, t);
                        }
                    }

                    if (device is not null) {
                        _deviceType = device.type;
                        _deviceIndex = device.index;
                    }
                }

                /// <summary>A converted copy of a buffer (the original is disposed), or false when nothing would change.</summary>
                protected static bool ReplaceBuffer(ScalarType? dtype, Device? device, Tensor buffer, out Tensor? result)
                {
                    result = null;
                    if (!WillCopy(buffer, dtype ?? buffer.dtype, device ?? buffer.device)) return false;

                    var type = dtype is not null && IsFloatingOrComplex(buffer.dtype) ? dtype.Value : buffer.dtype;
                    result = buffer.to(type, device ?? buffer.device, disposeAfter: true).DetachFromDisposeScope();
                    return true;
                }

                /// <summary>
                /// A new parameter holding a converted copy of <paramref name="param"/> (and of its gradient), or
                /// false when neither would change.
                /// </summary>
                protected static bool ReplaceParameter(ScalarType? dtype, Device? device, Parameter param, out Parameter? p)
                {
                    var grad = param.grad;
                    p = null;

                    if (!WillCopy(param, dtype ?? param.dtype, device ?? param.device) &&
                        (grad is null || !WillCopy(grad, dtype ?? param.dtype, device ?? param.device)))
                        return false;

                    var type = dtype is not null && IsFloatingOrComplex(param.dtype) ? dtype.Value : param.dtype;
                    using (no_grad()) {
                        p = new Parameter(param.to(type, device ?? param.device), requires_grad: param.requires_grad);
                        _ = p.DetachFromDisposeScope();
                        if (grad is not null) {
                            using var newGrad = grad.to(type, device ?? param.device).with_requires_grad(grad.requires_grad);
                            p.grad = newGrad;
                        }
                    }
                    return true;
                }

                private static bool WillCopy(Tensor t, ScalarType dtype, Device device) =>
                    t.dtype != dtype || t.device_type != device.type || t.device_index != device.index;

                private static bool IsFloatingOrComplex(ScalarType t) =>
                    t is ScalarType.Float16 or ScalarType.Float32 or ScalarType.Float64 or ScalarType.BFloat16
                        or ScalarType.ComplexFloat32 or ScalarType.ComplexFloat64;

                /// <summary>The instance fields of a type and its base types, most derived first, one per name.</summary>
                private static IEnumerable<FieldInfo> GetFieldsRecursive(Type type, BindingFlags flags)
                {
                    var seen = new HashSet<string>();
                    for (var t = type; t is not null && t != typeof(object); t = t.BaseType) {
                        foreach (var f in t.GetFields(flags)) {
                            if (seen.Add(f.Name)) yield return f;
                        }
                    }
                }

                // ---- mode ---------------------------------------------------------------------------

                /// <summary>Applies a function to every submodule (children first, recursively) and then to this module.</summary>
                public virtual Module apply(Action<Module> fn)
                {
                    foreach (var (_, m) in _internal_submodules) m.apply(fn);
                    fn(this);
                    return this;
                }

                /// <summary>Sets the module and its children in training (or evaluation) mode.</summary>
                public virtual void train(bool train = true)
                {
                    isTraining = train;
                    foreach (var (_, m) in named_children()) m.train(train);
                }

                /// <summary>Sets the module and its children in evaluation mode.</summary>
                public virtual void eval() => train(false);

                /// <summary>Whether the module is in training mode.</summary>
                public virtual bool training => isTraining;

                /// <summary>Sets the gradients of all parameters to null (or zeroes them in place).</summary>
                public virtual void zero_grad(bool set_to_none = true)
                {
                    foreach (var (_, p) in named_parameters()) {
                        using var grad = p.grad;
                        if (grad is null) continue;
                        if (set_to_none) p.grad = null;
                        else grad.zero_();
                    }
                }

                // ---- enumeration --------------------------------------------------------------------

                /// <summary>
                /// The module's persistent buffers (non-persistent ones are skipped whatever
                /// <paramref name="include_nonpersistent"/> says, as in TorchSharp 0.105.1), then, with
                /// <paramref name="recurse"/>, its submodules' as "child.name".
                /// </summary>
                public virtual IEnumerable<(string name, Tensor buffer)> named_buffers(bool recurse = true, bool include_nonpersistent = true)
                {
                    var seen = new HashSet<IntPtr> { IntPtr.Zero };
                    foreach (var (bname, (buffer, persistent)) in _internal_buffers) {
                        if (seen.Contains(buffer.handle) || !persistent) continue;
                        seen.Add(buffer.handle);
                        yield return (bname, buffer);
                    }
                    if (!recurse) yield break;
                    foreach (var (sname, sm) in _internal_submodules) {
                        foreach (var (bname, buffer) in sm.named_buffers(true, include_nonpersistent)) {
                            if (seen.Contains(buffer.handle)) continue;
                            seen.Add(buffer.handle);
                            yield return ($"{sname}.{bname}", buffer);
                        }
                    }
                }

                /// <summary>The buffers of <see cref="named_buffers"/>.</summary>
                public virtual IEnumerable<Tensor> buffers(bool recurse = true, bool include_nonpersistent = true) =>
                    named_buffers(recurse, include_nonpersistent).Select(b => b.buffer);

                /// <summary>The registered direct submodules, in registration order.</summary>
                public virtual IEnumerable<(string name, Module module)> named_children() => _internal_submodules;

                /// <summary>
                /// All descendants (not the module itself): the direct children first, then, child by child,
                /// the same walk inside each, named with dotted paths.
                /// </summary>
                public virtual IEnumerable<(string name, Module module)> named_modules()
                {
                    foreach (var entry in _internal_submodules) yield return entry;
                    foreach (var (sname, sm) in _internal_submodules) {
                        foreach (var (n, m) in sm.named_modules()) yield return ($"{sname}.{n}", m);
                    }
                }

                /// <summary>The modules of <see cref="named_modules"/>.</summary>
                public virtual IEnumerable<Module> modules() => named_modules().Select(m => m.module);

                /// <summary>The modules of <see cref="named_children"/>.</summary>
                public virtual IEnumerable<Module> children() => named_children().Select(m => m.module);

                /// <summary>
                /// The module's own parameters, then, with <paramref name="recurse"/>, its submodules' as
                /// "child.name"; a parameter reachable twice is listed once.
                /// </summary>
                public virtual IEnumerable<(string name, Parameter parameter)> named_parameters(bool recurse = true)
                {
                    var seen = new HashSet<IntPtr> { IntPtr.Zero };
                    foreach (var entry in _internal_params) {
                        if (seen.Contains(entry.Item2.handle)) continue;
                        seen.Add(entry.Item2.handle);
                        yield return entry;
                    }
                    if (!recurse) yield break;
                    foreach (var (sname, sm) in _internal_submodules) {
                        foreach (var (pname, p) in sm.named_parameters(true)) {
                            if (seen.Contains(p.handle)) continue;
                            seen.Add(p.handle);
                            yield return ($"{sname}.{pname}", p);
                        }
                    }
                }

                /// <summary>The parameters of <see cref="named_parameters"/>.</summary>
                public virtual IEnumerable<Parameter> parameters(bool recurse = true) => named_parameters(recurse).Select(p => p.parameter);

                /// <summary>The parameters libtorch holds for a natively implemented module (none for custom modules).</summary>
                protected virtual (string name, Parameter parameter)[] _named_parameters() => Array.Empty<(string, Parameter)>();

                /// <summary>The buffers libtorch holds for a natively implemented module (none for custom modules).</summary>
                protected virtual (string name, Tensor buffer)[] _named_buffers() => Array.Empty<(string, Tensor)>();

                /// <summary>The parameters libtorch holds for a natively implemented module (none for custom modules).</summary>
                protected virtual Parameter[] _parameters(bool recurse = true) => _named_parameters().Select(p => p.parameter).ToArray();

                // ---- lookup -------------------------------------------------------------------------

                /// <summary>Whether a buffer exists under a dotted name.</summary>
                public virtual bool has_buffer(string target)
                {
                    if (_internal_buffers.ContainsKey(target)) return true;
                    var head = target.Split('.')[0];
                    if (head.Length == target.Length) return false;
                    return named_children().Where(c => c.name == head).Any(c => c.module.has_buffer(target.Substring(head.Length + 1)));
                }

                /// <summary>Whether a parameter exists under a dotted name.</summary>
                public virtual bool has_parameter(string target)
                {
                    if (_internal_params.ContainsKey(target)) return true;
                    var head = target.Split('.')[0];
                    if (head.Length == target.Length) return false;
                    return named_children().Where(c => c.name == head).Any(c => c.module.has_parameter(target.Substring(head.Length + 1)));
                }

                /// <summary>The buffer under a dotted name, or null.</summary>
                public virtual Tensor? get_buffer(string target)
                {
                    ArgumentNullException.ThrowIfNull(target);
                    if (_internal_buffers.TryGetValue(target, out var buffer)) return buffer.Item1;
                    var head = target.Split('.')[0];
                    if (head.Length == target.Length) return null;
                    foreach (var (_, child) in named_children().Where(c => c.name == head)) {
                        var b = child.get_buffer(target.Substring(head.Length + 1));
                        if (b is not null) return b;
                    }
                    return null;
                }

                /// <summary>The parameter under a dotted name, or null.</summary>
                public virtual Parameter? get_parameter(string target)
                {
                    if (_internal_params.TryGetValue(target, out var parameter)) return parameter;
                    var head = target.Split('.')[0];
                    if (head.Length == target.Length) return null;
                    foreach (var (_, child) in named_children().Where(c => c.name == head)) {
                        var p = child.get_parameter(target.Substring(head.Length + 1));
                        if (p is not null) return p;
                    }
                    return null;
                }

                // ---- registration -------------------------------------------------------------------

                /// <summary>Adds a buffer; a non-persistent one is left out of named_buffers, state_dict and to().</summary>
                /// <exception cref="ArgumentNullException">The tensor is null or disposed.</exception>
                /// <exception cref="InvalidOperationException">The name is taken by a buffer.</exception>
                public virtual void register_buffer(string name, Tensor tensor, bool persistent = true)
                {
                    if (tensor is null || tensor.handle == IntPtr.Zero)
                        throw new ArgumentNullException(nameof(tensor), "A null tensor cannot be registered as a buffer.");
                    if (!_internal_buffers.TryAdd(name, (tensor, persistent)))
                        throw new InvalidOperationException($"Tensor {name} is already registered.");
                }

                /// <summary>Adds a parameter.</summary>
                /// <exception cref="ArgumentNullException">The parameter is null or disposed.</exception>
                /// <exception cref="InvalidOperationException">The name is taken by a parameter.</exception>
                public virtual void register_parameter(string name, Parameter param)
                {
                    if (param is null || param.handle == IntPtr.Zero)
                        throw new ArgumentNullException(nameof(param), "A null tensor cannot be registered as a parameter.");
                    if (!_internal_params.TryAdd(name, param))
                        throw new InvalidOperationException($"Parameter {name} is already registered.");
                }

                /// <summary>Alias of <see cref="register_module"/>.</summary>
                public void add_module(string name, Module module) => register_module(name, module);

                /// <summary>
                /// Registers a submodule (registering its own fields first); a null (or disposed) module removes
                /// the entry of that name.
                /// </summary>
                /// <exception cref="ArgumentException">The name is empty or contains a dot.</exception>
                /// <exception cref="InvalidOperationException">The name is taken by a submodule.</exception>
                public virtual void register_module(string name, Module submodule)
                {
                    if (submodule is null || submodule.IsInvalid) {
                        if (_internal_submodules.ContainsKey(name)) _internal_submodules.Remove(name);
                        return;
                    }
                    if (name.Contains('.', StringComparison.Ordinal)) throw new ArgumentException($"module name can't contain \".\", got: {name}");
                    if (string.IsNullOrEmpty(name)) throw new ArgumentException("module name can't be empty string \"\"");
                    if (_internal_submodules.ContainsKey(name)) throw new InvalidOperationException($"Sub-module {name} is already registered.");

                    submodule.RegisterComponents();
                    _internal_submodules.Add(name, submodule);
                }

                /// <summary>Registers, replaces or (for null) removes a parameter without checks.</summary>
                protected void ConditionallyRegisterParameter(string name, Tensor value) => ConditionallyRegisterParameter(name, value as Parameter);

                /// <summary>Registers, replaces or (for null) removes a parameter without checks.</summary>
                protected void ConditionallyRegisterParameter(string name, Parameter? value)
                {
                    if (value is null) {
                        if (_internal_params.ContainsKey(name)) _internal_params.Remove(name);
                    } else {
                        _internal_params[name] = value;
                    }
                }

                /// <summary>Registers, replaces or (for null) removes a buffer without checks.</summary>
                protected void ConditionallyRegisterBuffer(string name, Tensor? value, bool persistent = true)
                {
                    if (value is null) {
                        if (_internal_buffers.ContainsKey(name)) _internal_buffers.Remove(name);
                    } else {
                        _internal_buffers[name] = (value, persistent);
                    }
                }

                /// <summary>
                /// Registers the module's fields, most derived class first and in declaration order: modules as
                /// submodules, parameters as parameters, other tensors as (persistent) buffers, each under its
                /// field name or its [ComponentName]. Null fields and names already registered are skipped. Runs once.
                /// </summary>
                protected virtual void RegisterComponents()
                {
                    if (_areComponentsRegistered) return;

                    foreach (var field in GetFieldsRecursive(GetType(), BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)) {
                        var fieldName = field.ComponentName();
                        if (_internal_submodules.ContainsKey(fieldName) || _internal_params.ContainsKey(fieldName) || _internal_buffers.ContainsKey(fieldName)) continue;

                        switch (field.GetValue(this)) {
                        case Module module:
                            register_module(fieldName, module);
                            break;
                        case Parameter param:
                            register_parameter(fieldName, param);
                            break;
                        case Tensor tensor:
                            register_buffer(fieldName, tensor);
                            break;
                        }
                    }

                    _areComponentsRegistered = true;
                }

                /// <summary>Removes every registered submodule.</summary>
                protected void ClearModules() => _internal_submodules.clear();

                /// <summary>The given device and dtype, or the defaults (CPU, float32).</summary>
                protected static (Device device, ScalarType dtype) GetDefaultDeviceAndType(Device? device = null, ScalarType? dtype = null) =>
                    (device ?? CPU, dtype ?? ScalarType.Float32);

                internal T MoveModule<T>(Device? device, ScalarType? dtype) where T : Module
                {
                    var module = (T)this;
                    return device is not null
                        ? (dtype.HasValue ? (T)module._to(device, dtype.Value, false) : (T)module._to(device.type, device.index, false))
                        : (dtype.HasValue ? (T)module._to(dtype.Value, false) : module);
                }

                /// <summary>The module's name: the one given to the constructor, or libtorch's class name for native modules.</summary>
                public virtual string GetName() => !string.IsNullOrEmpty(name) ? name! : nativeName ?? "";

                // ---- state dicts --------------------------------------------------------------------

                /// <summary>
                /// The parameters and persistent buffers of the module and its descendants, by dotted name
                /// (the tensors themselves, not copies).
                /// </summary>
                public virtual Dictionary<string, Tensor> state_dict(Dictionary<string, Tensor>? destination = null, string? prefix = null)
                {
                    destination ??= new Dictionary<string, Tensor>();
                    string Key(string n) => string.IsNullOrEmpty(prefix) ? n : $"{prefix}.{n}";

                    foreach (var (n, p) in named_parameters()) destination.TryAdd(Key(n), p);
                    foreach (var (n, b) in named_buffers(include_nonpersistent: false)) destination.TryAdd(Key(n), b);
                    foreach (var (n, m) in _internal_submodules) m.state_dict(destination, Key(n));
                    return destination;
                }

                /// <summary>
                /// Copies the entries of <paramref name="source"/> into the module's parameters and buffers of the
                /// same name (in place, without recording gradients).
                /// </summary>
                /// <returns>The module's keys missing from the source, and the source's keys the module lacks.</returns>
                /// <exception cref="InvalidOperationException"><paramref name="strict"/> and the key sets differ.</exception>
                public virtual (IList<string> missing_keys, IList<string> unexpected_keyes) load_state_dict(Dictionary<string, Tensor> source, bool strict = true, IList<string>? skip = null)
                {
                    var missing = new List<string>();
                    var unexpected = new List<string>();
                    skip ??= Array.Empty<string>();

                    var destination = state_dict();
                    foreach (var key in source.Keys) {
                        if (!skip.Contains(key) && !destination.ContainsKey(key)) unexpected.Add(key);
                    }
                    foreach (var key in destination.Keys) {
                        if (!skip.Contains(key) && !source.ContainsKey(key)) missing.Add(key);
                    }

                    if (strict && (missing.Count > 0 || unexpected.Count > 0))
                        throw new InvalidOperationException("The loaded state_dict is not identical to the target dictionary.");

                    using var noGrad = no_grad();
                    foreach (var key in source.Keys) {
                        if (skip.Contains(key)) continue;
                        if (destination.TryGetValue(key, out var target)) target.copy_(source[key]);
                    }
                    return (missing, unexpected);
                }
            }

            /// <summary>A module whose forward takes one argument.</summary>
            public interface IModule<T, TResult>
            {
                public TResult call(T input1);
            }

            /// <summary>A module whose forward takes two arguments.</summary>
            public interface IModule<T1, T2, TResult>
            {
                public abstract TResult call(T1 input1, T2 input2);
            }

            /// <summary>A module whose forward takes three arguments.</summary>
            public interface IModule<T1, T2, T3, TResult>
            {
                public abstract TResult call(T1 input1, T2 input2, T3 input3);
            }

            /// <summary>A module whose forward takes four arguments.</summary>
            public interface IModule<T1, T2, T3, T4, TResult>
            {
                public abstract TResult call(T1 input1, T2 input2, T3 input3, T4 input4);
            }

            /// <summary>A module whose forward takes five arguments.</summary>
            public interface IModule<T1, T2, T3, T4, T5, TResult>
            {
                public abstract TResult call(T1 input1, T2 input2, T3 input3, T4 input4, T5 input5);
            }

            /// <summary>A module whose forward takes six arguments.</summary>
            public interface IModule<T1, T2, T3, T4, T5, T6, TResult>
            {
                public abstract TResult call(T1 input1, T2 input2, T3 input3, T4 input4, T5 input5, T6 input6);
            }

            /// <summary>A module that accepts hooks run by <c>call</c> around <c>forward</c>.</summary>
            public class HookableModule<TPreHook, TPostHook> : Module
            {
                protected HookableModule(string name) : base(name) { }

                private protected HookableModule(string? name, string nativeName) : base(name, nativeName) { }

                protected Dictionary<string, TPreHook> pre_hooks = new();
                protected Dictionary<string, TPostHook> post_hooks = new();
                protected Dictionary<string, Action<Module>> module_pre_hooks = new();
                protected Dictionary<string, Action<Module>> module_post_hooks = new();

                /// <summary>Adds a hook run after forward; it may replace the result.</summary>
                public HookRemover register_forward_hook(TPostHook hook) => Add(post_hooks, hook);

                /// <summary>Adds a hook run before forward; it may replace the input.</summary>
                public HookRemover register_forward_pre_hook(TPreHook hook) => Add(pre_hooks, hook);

                /// <summary>Adds a hook run after forward.</summary>
                public HookRemover register_forward_hook(Action<Module> hook) => Add(module_post_hooks, hook);

                /// <summary>Adds a hook run before forward.</summary>
                public HookRemover register_forward_pre_hook(Action<Module> hook) => Add(module_pre_hooks, hook);

                private HookRemover Add<THook>(Dictionary<string, THook> hooks, THook hook)
                {
                    var key = Guid.NewGuid().ToString();
                    hooks.Add(key, hook);
                    return new HookRemover(this, key);
                }

                private void remove(string key)
                {
                    pre_hooks.Remove(key);
                    post_hooks.Remove(key);
                    module_pre_hooks.Remove(key);
                    module_post_hooks.Remove(key);
                }

                /// <summary>Removes the hook it was returned for.</summary>
                public class HookRemover
                {
                    private readonly HookableModule<TPreHook, TPostHook> module;
                    private readonly string key;

                    public HookRemover(HookableModule<TPreHook, TPostHook> module, string key)
                    {
                        this.module = module;
                        this.key = key;
                    }

                    /// <summary>Removes the hook.</summary>
                    public void remove() => module.remove(key);
                }

                private protected void RunPreModuleHooks()
                {
                    foreach (var hook in module_pre_hooks.Values) hook(this);
                }

                private protected void RunPostModuleHooks()
                {
                    foreach (var hook in module_post_hooks.Values) hook(this);
                }
            }

            /// <summary>Base class for modules whose forward takes one argument.</summary>
            public abstract class Module<T, TResult> : HookableModule<Func<Module<T, TResult>, T, T>, Func<Module<T, TResult>, T, TResult, TResult>>, IModule<T, TResult>
            {
                protected Module(string name) : base(name) { }

                private protected Module(string? name, string nativeName) : base(name, nativeName) { }

                /// <summary>The module's computation (hooks are not run).</summary>
                public abstract TResult forward(T input);

                /// <summary>Runs the pre-hooks, forward and the post-hooks.</summary>
                public TResult call(T input)
                {
                    RunPreModuleHooks();
                    foreach (var hook in pre_hooks.Values) {
                        var modified = hook(this, input);
                        if (modified is not null) input = modified;
                    }
                    var result = forward(input);
                    foreach (var hook in post_hooks.Values) {
                        var modified = hook(this, input, result);
                        if (modified is not null) result = modified;
                    }
                    RunPostModuleHooks();
                    return result;
                }
            }

            /// <summary>Base class for modules whose forward takes two arguments.</summary>
            public abstract class Module<T1, T2, TResult> : HookableModule<Func<Module<T1, T2, TResult>, T1, T2, (T1, T2)?>, Func<Module<T1, T2, TResult>, T1, T2, TResult, TResult>>, IModule<T1, T2, TResult>
            {
                protected Module(string name) : base(name) { }

                private protected Module(string? name, string nativeName) : base(name, nativeName) { }

                /// <summary>The module's computation (hooks are not run).</summary>
                public abstract TResult forward(T1 input1, T2 input2);

                /// <summary>Runs the pre-hooks, forward and the post-hooks.</summary>
                public TResult call(T1 input1, T2 input2)
                {
                    RunPreModuleHooks();
                    foreach (var hook in pre_hooks.Values) {
                        var modified = hook(this, input1, input2);
                        if (modified.HasValue) (input1, input2) = modified.Value;
                    }
                    var result = forward(input1, input2);
                    foreach (var hook in post_hooks.Values) {
                        var modified = hook(this, input1, input2, result);
                        if (modified is not null) result = modified;
                    }
                    RunPostModuleHooks();
                    return result;
                }
            }

            /// <summary>Base class for modules whose forward takes three arguments.</summary>
            public abstract class Module<T1, T2, T3, TResult> : HookableModule<Func<Module<T1, T2, T3, TResult>, T1, T2, T3, (T1, T2, T3)?>, Func<Module<T1, T2, T3, TResult>, T1, T2, T3, TResult, TResult>>, IModule<T1, T2, T3, TResult>
            {
                protected Module(string name) : base(name) { }

                private protected Module(string? name, string nativeName) : base(name, nativeName) { }

                /// <summary>The module's computation (hooks are not run).</summary>
                public abstract TResult forward(T1 input1, T2 input2, T3 input3);

                /// <summary>Runs the pre-hooks, forward and the post-hooks.</summary>
                public TResult call(T1 input1, T2 input2, T3 input3)
                {
                    RunPreModuleHooks();
                    foreach (var hook in pre_hooks.Values) {
                        var modified = hook(this, input1, input2, input3);
                        if (modified.HasValue) (input1, input2, input3) = modified.Value;
                    }
                    var result = forward(input1, input2, input3);
                    foreach (var hook in post_hooks.Values) {
                        var modified = hook(this, input1, input2, input3, result);
                        if (modified is not null) result = modified;
                    }
                    RunPostModuleHooks();
                    return result;
                }
            }

            /// <summary>Base class for modules whose forward takes four arguments.</summary>
            public abstract class Module<T1, T2, T3, T4, TResult> : HookableModule<Func<Module<T1, T2, T3, T4, TResult>, T1, T2, T3, T4, (T1, T2, T3, T4)?>, Func<Module<T1, T2, T3, T4, TResult>, T1, T2, T3, T4, TResult, TResult>>, IModule<T1, T2, T3, T4, TResult>
            {
                protected Module(string name) : base(name) { }

                private protected Module(string? name, string nativeName) : base(name, nativeName) { }

                /// <summary>The module's computation (hooks are not run).</summary>
                public abstract TResult forward(T1 input1, T2 input2, T3 input3, T4 input4);

                /// <summary>Runs the pre-hooks, forward and the post-hooks.</summary>
                public TResult call(T1 input1, T2 input2, T3 input3, T4 input4)
                {
                    RunPreModuleHooks();
                    foreach (var hook in pre_hooks.Values) {
                        var modified = hook(this, input1, input2, input3, input4);
                        if (modified.HasValue) (input1, input2, input3, input4) = modified.Value;
                    }
                    var result = forward(input1, input2, input3, input4);
                    foreach (var hook in post_hooks.Values) {
                        var modified = hook(this, input1, input2, input3, input4, result);
                        if (modified is not null) result = modified;
                    }
                    RunPostModuleHooks();
                    return result;
                }
            }

            /// <summary>Base class for modules whose forward takes five arguments.</summary>
            public abstract class Module<T1, T2, T3, T4, T5, TResult> : HookableModule<Func<Module<T1, T2, T3, T4, T5, TResult>, T1, T2, T3, T4, T5, (T1, T2, T3, T4, T5)?>, Func<Module<T1, T2, T3, T4, T5, TResult>, T1, T2, T3, T4, T5, TResult, TResult>>, IModule<T1, T2, T3, T4, T5, TResult>
            {
                protected Module(string name) : base(name) { }

                private protected Module(string? name, string nativeName) : base(name, nativeName) { }

                /// <summary>The module's computation (hooks are not run).</summary>
                public abstract TResult forward(T1 input1, T2 input2, T3 input3, T4 input4, T5 input5);

                /// <summary>Runs the pre-hooks, forward and the post-hooks.</summary>
                public TResult call(T1 input1, T2 input2, T3 input3, T4 input4, T5 input5)
                {
                    RunPreModuleHooks();
                    foreach (var hook in pre_hooks.Values) {
                        var modified = hook(this, input1, input2, input3, input4, input5);
                        if (modified.HasValue) (input1, input2, input3, input4, input5) = modified.Value;
                    }
                    var result = forward(input1, input2, input3, input4, input5);
                    foreach (var hook in post_hooks.Values) {
                        var modified = hook(this, input1, input2, input3, input4, input5, result);
                        if (modified is not null) result = modified;
                    }
                    RunPostModuleHooks();
                    return result;
                }
            }

            /// <summary>Base class for modules whose forward takes six arguments.</summary>
            public abstract class Module<T1, T2, T3, T4, T5, T6, TResult> : HookableModule<Func<Module<T1, T2, T3, T4, T5, T6, TResult>, T1, T2, T3, T4, T5, T6, (T1, T2, T3, T4, T5, T6)?>, Func<Module<T1, T2, T3, T4, T5, T6, TResult>, T1, T2, T3, T4, T5, T6, TResult, TResult>>, IModule<T1, T2, T3, T4, T5, T6, TResult>
            {
                protected Module(string name) : base(name) { }

                private protected Module(string? name, string nativeName) : base(name, nativeName) { }

                /// <summary>The module's computation (hooks are not run).</summary>
                public abstract TResult forward(T1 input1, T2 input2, T3 input3, T4 input4, T5 input5, T6 input6);

                /// <summary>Runs the pre-hooks, forward and the post-hooks.</summary>
                public TResult call(T1 input1, T2 input2, T3 input3, T4 input4, T5 input5, T6 input6)
                {
                    RunPreModuleHooks();
                    foreach (var hook in pre_hooks.Values) {
                        var modified = hook(this, input1, input2, input3, input4, input5, input6);
                        if (modified.HasValue) (input1, input2, input3, input4, input5, input6) = modified.Value;
                    }
                    var result = forward(input1, input2, input3, input4, input5, input6);
                    foreach (var hook in post_hooks.Values) {
                        var modified = hook(this, input1, input2, input3, input4, input5, input6, result);
                        if (modified is not null) result = modified;
                    }
                    RunPostModuleHooks();
                    return result;
                }
            }
        }
    }

    /// <summary>Module.to and friends: move and convert a module's parameters and buffers, returning the module.</summary>
    public static class ModuleExtensionMethods
    {
        /// <summary>Converts the parameters and buffers to a (floating point or complex) element type.</summary>
        public static T to<T>(this T module, torch.ScalarType type, bool non_blocking = false) where T : torch.nn.Module =>
            (T)module._to(type, non_blocking);

        /// <summary>Moves and converts the parameters and buffers.</summary>
        public static T to<T>(this T module, torch.Device device, torch.ScalarType type, bool non_blocking = false) where T : torch.nn.Module =>
            (T)module._to(device, type, non_blocking);

        /// <summary>Moves the parameters and buffers.</summary>
        public static T to<T>(this T module, DeviceType deviceType, int deviceIndex = -1, bool non_blocking = false) where T : torch.nn.Module =>
            (T)module._to(deviceType, deviceIndex, non_blocking);

        /// <summary>Moves the parameters and buffers.</summary>
        public static T to<T>(this T module, torch.Device device, bool non_blocking = false) where T : torch.nn.Module =>
            (T)module._to(device.type, device.index, non_blocking);

        /// <summary>Moves the parameters and buffers to a device given as a string ("cpu", "cuda:0").</summary>
        public static T to<T>(this T module, string device, bool non_blocking = false) where T : torch.nn.Module
        {
            var dev = new torch.Device(device);
            return (T)module._to(dev.type, dev.index, non_blocking);
        }

        /// <summary>Moves and converts the parameters and buffers to the device and type of a tensor.</summary>
        public static T to<T>(this T module, torch.Tensor other, bool non_blocking = false) where T : torch.nn.Module =>
            (T)module._to(other.device, other.dtype, non_blocking);

        /// <summary>Moves the parameters and buffers to the CPU.</summary>
        public static T cpu<T>(this T module, bool non_blocking = false) where T : torch.nn.Module =>
            (T)module._to(DeviceType.CPU, -1, non_blocking);

        /// <summary>Moves the parameters and buffers to a CUDA device.</summary>
        public static T cuda<T>(this T module, int deviceIndex = -1, bool non_blocking = false) where T : torch.nn.Module =>
            (T)module._to(DeviceType.CUDA, deviceIndex, non_blocking);

        public static T @bool<T>(this T module, bool non_blocking = false) where T : torch.nn.Module => module.to(torch.ScalarType.Bool);

        public static T @byte<T>(this T module, bool non_blocking = false) where T : torch.nn.Module => module.to(torch.ScalarType.Byte, non_blocking);

        public static T @char<T>(this T module, bool non_blocking = false) where T : torch.nn.Module => module.to(torch.ScalarType.Int8, non_blocking);

        public static T @short<T>(this T module, bool non_blocking = false) where T : torch.nn.Module => module.to(torch.ScalarType.Int16, non_blocking);

        public static T @int<T>(this T module, bool non_blocking = false) where T : torch.nn.Module => module.to(torch.ScalarType.Int32, non_blocking);

        public static T @long<T>(this T module, bool non_blocking = false) where T : torch.nn.Module => module.to(torch.ScalarType.Int64, non_blocking);

        public static T half<T>(this T module, bool non_blocking = false) where T : torch.nn.Module => module.to(torch.ScalarType.Float16, non_blocking);

        public static T bfloat16<T>(this T module, bool non_blocking = false) where T : torch.nn.Module => module.to(torch.ScalarType.BFloat16, non_blocking);

        public static T @float<T>(this T module, bool non_blocking = false) where T : torch.nn.Module => module.to(torch.ScalarType.Float32, non_blocking);

        public static T @double<T>(this T module, bool non_blocking = false) where T : torch.nn.Module => module.to(torch.ScalarType.Float64, non_blocking);

        public static T cfloat<T>(this T module, bool non_blocking = false) where T : torch.nn.Module => module.to(torch.ScalarType.ComplexFloat32, non_blocking);

        public static T cdouble<T>(this T module, bool non_blocking = false) where T : torch.nn.Module => module.to(torch.ScalarType.ComplexFloat64, non_blocking);
    }

    /// <summary>The component name of a module field.</summary>
    public static class FieldInfoExtensionMethods
    {
        /// <summary>The name given by the field's <see cref="ComponentNameAttribute"/>, or the field's name.</summary>
        public static string ComponentName(this FieldInfo field) => field.GetCustomAttribute<ComponentNameAttribute>()?.Name ?? field.Name;
    }
}
