// Members added for model surgery, adapters and safetensors (same signatures as TorchSharp 0.105.1).
using TorchSharp.PInvoke;

namespace TorchSharp
{
    public static partial class torch
    {
        public partial class Tensor
        {
            /// <summary>Matrix-vector product: this <c>(n, m)</c> times <paramref name="vec"/> <c>(m)</c> gives <c>(n)</c>.</summary>
            public Tensor mv(Tensor vec) => Aten.T("aten::mv", "", this, vec);

            /// <summary>Writes the raw bytes of a contiguous CPU tensor to a stream, <paramref name="bufferSize"/> bytes at a time (works beyond 2 GB).</summary>
            public void WriteBytesToStream(Stream stream, int bufferSize = 1024)
            {
                ValidateRawAccess();
                var total = NumberOfElements * ElementSize;
                if (total == 0) return;
                var buffer = new byte[Math.Max(1, bufferSize)];
                unsafe {
                    var ptr = (byte*)DataPointer();
                    while (total > 0) {
                        var count = (int)Math.Min(total, buffer.Length);
                        new Span<byte>(ptr, count).CopyTo(buffer);
                        stream.Write(buffer, 0, count);
                        ptr += count;
                        total -= count;
                    }
                }
            }

            /// <summary>Fills a contiguous CPU tensor with raw bytes read from a stream; throws <see cref="EndOfStreamException"/> if the stream ends first.</summary>
            public void ReadBytesFromStream(Stream stream, int bufferSize = 1024)
            {
                ValidateRawAccess();
                var total = NumberOfElements * ElementSize;
                if (total == 0) return;
                var buffer = new byte[Math.Max(1, bufferSize)];
                unsafe {
                    var ptr = (byte*)DataPointer();
                    while (total > 0) {
                        var read = stream.Read(buffer, 0, (int)Math.Min(total, buffer.Length));
                        if (read == 0) throw new EndOfStreamException();
                        buffer.AsSpan(0, read).CopyTo(new Span<byte>(ptr, read));
                        ptr += read;
                        total -= read;
                    }
                }
            }

            private void ValidateRawAccess()
            {
                if (!is_contiguous()) throw new InvalidOperationException("Bytes() called on non-contiguous tensor.");
                if (device_type != DeviceType.CPU)
                    throw new InvalidOperationException("Reading data from non-CPU memory is not supported. Move or copy the tensor to the cpu before reading.");
            }
        }
    }
}
