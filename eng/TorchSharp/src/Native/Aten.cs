// Calls ATen operators by name through the native shim's dispatcher entry point.
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace TorchSharp.PInvoke
{
    /// One argument of an operator call; converts implicitly from the values operators take.
    internal readonly struct Arg
    {
        internal enum K : byte { None, Tensor, Int, Double, Bool, IntList, DoubleList, TensorList, OptTensorList, Device, String }

        internal readonly K Kind;
        internal readonly long I;
        internal readonly double D;
        internal readonly object? O;
        internal readonly string? Keyword;

        private Arg(K kind, long i = 0, double d = 0, object? o = null, string? keyword = null)
        {
            Kind = kind; I = i; D = d; O = o; Keyword = keyword;
        }

        internal static readonly Arg None = new(K.None);
        internal Arg Named(string keyword) => new(Kind, I, D, O, keyword);

        public static implicit operator Arg(Tensor? t) => t is null ? None : new(K.Tensor, o: t);
        public static implicit operator Arg(long v) => new(K.Int, i: v);
        public static implicit operator Arg(int v) => new(K.Int, i: v);
        public static implicit operator Arg(double v) => new(K.Double, d: v);
        public static implicit operator Arg(bool v) => new(K.Bool, i: v ? 1 : 0);
        public static implicit operator Arg(string v) => new(K.String, o: v);
        public static implicit operator Arg(long[]? v) => v is null ? None : new(K.IntList, o: v);
        public static implicit operator Arg(double[]? v) => v is null ? None : new(K.DoubleList, o: v);
        public static implicit operator Arg(Tensor[] v) => new(K.TensorList, o: v);
        public static implicit operator Arg(ScalarType? v) => v is null ? None : new(K.Int, i: (long)v.Value);
        public static implicit operator Arg(ScalarType v) => new(K.Int, i: (long)v);
        public static implicit operator Arg(Device? v) => v is null ? None : new(K.Device, i: (long)v.type, d: v.index);
        public static implicit operator Arg(long? v) => v is null ? None : new(K.Int, i: v.Value);
        public static implicit operator Arg(double? v) => v is null ? None : new(K.Double, d: v.Value);
        public static implicit operator Arg(bool? v) => v is null ? None : new(K.Bool, i: v.Value ? 1 : 0);
        public static implicit operator Arg(Scalar? v) => v is null ? None : v.ToArg();

        internal static Arg Int(long v) => new(K.Int, i: v);
        internal static Arg Double(double v) => new(K.Double, d: v);
        internal static Arg Bool(bool v) => new(K.Bool, i: v ? 1 : 0);
        internal static Arg OptionalTensors(Tensor?[] v) => new(K.OptTensorList, o: v);
    }

    /// Runs ATen operators by schema name ("aten::add", overload "Tensor"); trailing arguments left
    /// out take the schema's defaults, arguments made with <see cref="Arg.Named"/> are keywords.
    internal static unsafe class Aten
    {
        [ThreadStatic] private static IntPtr stack;

        private static IntPtr Run(string op, string overload, Arg[] args, out int count)
        {
            if (stack == IntPtr.Zero) stack = NativeMethods.vf_stack_new();
            var s = stack;
            NativeMethods.vf_stack_clear(s);
            foreach (var a in args) {
                Push(s, a);
                if (a.Keyword is not null) NativeMethods.vf_to_kwarg(s, a.Keyword);
            }
            count = NativeMethods.vf_call(s, op, overload);
            GC.KeepAlive(args);
            if (count < 0) NativeMethods.CheckForErrors();
            return s;
        }

        private static void Push(IntPtr s, in Arg a)
        {
            switch (a.Kind) {
            case Arg.K.None: NativeMethods.vf_push_none(s); break;
            case Arg.K.Tensor: NativeMethods.vf_push_tensor(s, ((Tensor)a.O!).Handle); break;
            case Arg.K.Int: NativeMethods.vf_push_int(s, a.I); break;
            case Arg.K.Double: NativeMethods.vf_push_double(s, a.D); break;
            case Arg.K.Bool: NativeMethods.vf_push_bool(s, (int)a.I); break;
            case Arg.K.String: NativeMethods.vf_push_string(s, (string)a.O!); break;
            case Arg.K.Device: NativeMethods.vf_push_device(s, (int)a.I, (int)a.D); break;
            case Arg.K.IntList: {
                var v = (long[])a.O!;
                fixed (long* p = v) NativeMethods.vf_push_intlist(s, p, v.Length);
                break;
            }
            case Arg.K.DoubleList: {
                var v = (double[])a.O!;
                fixed (double* p = v) NativeMethods.vf_push_doublelist(s, p, v.Length);
                break;
            }
            case Arg.K.TensorList:
            case Arg.K.OptTensorList: {
                var v = (Tensor?[])a.O!;
                var handles = new IntPtr[v.Length];
                for (int i = 0; i < v.Length; i++) handles[i] = v[i]?.Handle ?? IntPtr.Zero;
                fixed (IntPtr* p = handles) {
                    if (a.Kind == Arg.K.TensorList) NativeMethods.vf_push_tensorlist(s, p, v.Length);
                    else NativeMethods.vf_push_opt_tensorlist(s, p, v.Length);
                }
                break;
            }
            }
        }

        private static Tensor ResultTensor(IntPtr s, int i)
        {
            var h = NativeMethods.vf_result_tensor(s, i);
            if (h == IntPtr.Zero) NativeMethods.CheckForErrors();
            return new Tensor(h);
        }

        /// Calls an operator that returns one tensor.
        internal static Tensor T(string op, string overload, params Arg[] args)
        {
            var s = Run(op, overload, args, out _);
            return ResultTensor(s, 0);
        }

        /// Calls an operator that returns two tensors.
        internal static (Tensor, Tensor) T2(string op, string overload, params Arg[] args)
        {
            var s = Run(op, overload, args, out _);
            return (ResultTensor(s, 0), ResultTensor(s, 1));
        }

        /// Calls an operator that returns three tensors.
        internal static (Tensor, Tensor, Tensor) T3(string op, string overload, params Arg[] args)
        {
            var s = Run(op, overload, args, out _);
            return (ResultTensor(s, 0), ResultTensor(s, 1), ResultTensor(s, 2));
        }

        /// Calls an operator that returns a list of tensors.
        internal static Tensor[] List(string op, string overload, params Arg[] args)
        {
            var s = Run(op, overload, args, out _);
            int n = NativeMethods.vf_result_list_size(s, 0);
            if (n < 0) NativeMethods.CheckForErrors();
            var result = new Tensor[n];
            for (int j = 0; j < n; j++) result[j] = new Tensor(NativeMethods.vf_result_list_item(s, 0, j));
            return result;
        }

        /// Calls an operator for its effect (in-place operators); the returned alias is dropped.
        internal static void Do(string op, string overload, params Arg[] args) => Run(op, overload, args, out _);

        /// Calls an operator that returns a bool.
        internal static bool Bool(string op, string overload, params Arg[] args)
        {
            var s = Run(op, overload, args, out _);
            return NativeMethods.vf_result_bool(s, 0) != 0;
        }

        /// Calls an operator that returns a double.
        internal static double Double(string op, string overload, params Arg[] args)
        {
            var s = Run(op, overload, args, out _);
            return NativeMethods.vf_result_double(s, 0);
        }
    }
}
