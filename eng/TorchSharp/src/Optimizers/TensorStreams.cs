// Tensors in TorchSharp's .NET stream format, for optimizer save_state_dict/load_state_dict: the element
// type, the rank and each dimension as unsigned LEB128 numbers, then the elements' bytes in row-major order.
using System.IO;
using TorchSharp.PInvoke;
using static TorchSharp.torch;

namespace TorchSharp
{
    internal static unsafe class TensorStreams
    {
        internal static void WriteLeb128(BinaryWriter writer, long value)
        {
            if (value < 0) throw new ArgumentOutOfRangeException(nameof(value), value, "LEB128 encodes non-negative numbers only.");
            do {
                var low = (byte)(value & 0x7f);
                value >>= 7;
                writer.Write(value == 0 ? low : (byte)(low | 0x80));
            } while (value != 0);
        }

        internal static long ReadLeb128(BinaryReader reader)
        {
            long value = 0;
            for (int shift = 0; ; shift += 7) {
                var b = reader.ReadByte();
                value |= (long)(b & 0x7f) << shift;
                if ((b & 0x80) == 0) return value;
            }
        }

        /// Writes the tensor's type, shape and elements.
        internal static void Write(BinaryWriter writer, Tensor tensor)
        {
            var shape = tensor.shape;
            WriteLeb128(writer, (long)tensor.dtype);
            WriteLeb128(writer, shape.Length);
            foreach (var d in shape) WriteLeb128(writer, d);
            var bytes = new byte[tensor.numel() * tensor.element_size()];
            fixed (byte* p = bytes) NativeMethods.vf_tensor_copy_out(tensor.Handle, p);
            NativeMethods.CheckForErrors();
            writer.Write(bytes);
        }

        /// Reads a tensor into an existing one of the same type and shape.
        internal static void ReadInto(Tensor target, BinaryReader reader)
        {
            var (type, shape) = ReadHeader(reader);
            if (type != target.dtype) throw new ArgumentException("Mismatched tensor data types while loading. Make sure that the model you are loading into is exactly the same as the origin.");
            if (!shape.SequenceEqual(target.shape)) throw new ArgumentException("Mismatched tensor shape while loading. Make sure that the model you are loading into is exactly the same as the origin.");
            CopyElements(reader, type, shape, target);
        }

        /// Reads a tensor into <paramref name="target"/>, creating it (on the CPU) when null.
        internal static void Read(ref Tensor? target, BinaryReader reader)
        {
            var (type, shape) = ReadHeader(reader);
            if (target is null) {
                target = empty(shape, type);
            } else if (!shape.SequenceEqual(target.shape)) {
                throw new ArgumentException("Mismatched tensor shape while loading. Make sure that the model you are loading into is exactly the same as the origin.");
            }
            CopyElements(reader, type, shape, target);
        }

        private static (ScalarType type, long[] shape) ReadHeader(BinaryReader reader)
        {
            var type = (ScalarType)ReadLeb128(reader);
            var shape = new long[ReadLeb128(reader)];
            for (int i = 0; i < shape.Length; i++) shape[i] = ReadLeb128(reader);
            return (type, shape);
        }

        private static void CopyElements(BinaryReader reader, ScalarType type, long[] shape, Tensor target)
        {
            using var probe = empty(Array.Empty<long>(), type);
            long count = 1;
            foreach (var d in shape) count *= d;
            var bytes = reader.ReadBytes(checked((int)(count * probe.element_size())));
            if (bytes.Length != count * probe.element_size()) throw new EndOfStreamException("The stream ended inside a tensor's data.");
            IntPtr h;
            fixed (byte* p = bytes)
            fixed (long* s = shape)
                h = NativeMethods.vf_tensor_from_data(p, s, shape.Length, (int)type, 0);
            using var loaded = new Tensor(h);
            using (no_grad()) target.copy_(loaded);
        }
    }
}
