// A number passed to tensor operations (TorchSharp.Scalar).
using TorchSharp.PInvoke;

namespace TorchSharp
{
    /// <summary>A scalar value: a number of one of the tensor element types.</summary>
    public sealed class Scalar : IDisposable
    {
        private readonly double real;
        private readonly long integer;

        private Scalar(double value, long integral, torch.ScalarType type)
        {
            real = value; integer = integral; Type = type;
        }

        /// <summary>The element type of the value.</summary>
        public torch.ScalarType Type { get; }

        public static implicit operator Scalar(byte value) => new(value, value, torch.ScalarType.Byte);
        public static implicit operator Scalar(sbyte value) => new(value, value, torch.ScalarType.Int8);
        public static implicit operator Scalar(short value) => new(value, value, torch.ScalarType.Int16);
        public static implicit operator Scalar(int value) => new(value, value, torch.ScalarType.Int32);
        public static implicit operator Scalar(long value) => new(value, value, torch.ScalarType.Int64);
        public static implicit operator Scalar(Half value) => new((double)value, (long)value, torch.ScalarType.Float16);
        public static implicit operator Scalar(float value) => new(value, (long)value, torch.ScalarType.Float32);
        public static implicit operator Scalar(double value) => new(value, (long)value, torch.ScalarType.Float64);
        public static implicit operator Scalar(bool value) => new(value ? 1 : 0, value ? 1 : 0, torch.ScalarType.Bool);

        internal bool IsFloatingPoint => Type is torch.ScalarType.Float16 or torch.ScalarType.Float32 or torch.ScalarType.Float64 or torch.ScalarType.BFloat16;
        internal double AsDouble => IsFloatingPoint ? real : integer;
        internal long AsLong => IsFloatingPoint ? (long)real : integer;

        // libtorch 1.13 does not take a bool IValue where a Scalar is expected: a bool goes as 0/1.
        internal Arg ToArg() => IsFloatingPoint ? Arg.Double(real) : Arg.Int(integer);

        /// <summary>Releases the scalar (it holds no native resources in this binding).</summary>
        public void Dispose() { }
    }

    /// <summary>Conversions between .NET numbers and <see cref="Scalar"/>.</summary>
    public static class ScalarExtensionMethods
    {
        public static Scalar ToScalar(this int value) => value;
        public static Scalar ToScalar(this long value) => value;
        public static Scalar ToScalar(this float value) => value;
        public static Scalar ToScalar(this double value) => value;
        public static Scalar ToScalar(this bool value) => value;
        public static double ToDouble(this Scalar value) => value.AsDouble;
        public static float ToSingle(this Scalar value) => (float)value.AsDouble;
        public static long ToInt64(this Scalar value) => value.AsLong;
        public static int ToInt32(this Scalar value) => (int)value.AsLong;
        public static bool ToBoolean(this Scalar value) => value.AsLong != 0;
    }
}
