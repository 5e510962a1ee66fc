// Devices and device types (TorchSharp.DeviceType, torch.Device).
namespace TorchSharp
{
    /// <summary>The LibTorch device types.</summary>
    public enum DeviceType
    {
        CPU = 0,
        CUDA = 1,
        MKLDNN = 2,
        OPENGL = 3,
        OPENCL = 4,
        IDEEP = 5,
        HIP = 6,
        FPGA = 7,
        MSNPU = 8,
        XLA = 9,
        MPS = 13,
        META = 14,
    }

    public static partial class torch
    {
        /// <summary>A device: a type and an index (-1: the current one).</summary>
        public class Device
        {
            public DeviceType type { get; private set; } = DeviceType.CPU;
            public int index { get; private set; } = -1;

            public Device(string description)
            {
                var parts = description.Split(':');
                type = parts[0].ToLowerInvariant() switch {
                    "cpu" => DeviceType.CPU,
                    "cuda" => DeviceType.CUDA,
                    "mps" => DeviceType.MPS,
                    "meta" => DeviceType.META,
                    _ => throw new ArgumentException($"Unknown device type: '{parts[0]}'", nameof(description)),
                };
                index = parts.Length > 1 ? int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) : -1;
            }

            public Device(string deviceType, int index = -1) : this(deviceType) { this.index = index; }

            public Device(DeviceType deviceType, int index = -1) { type = deviceType; this.index = index; }

            public Device(int index) { type = DeviceType.CUDA; this.index = index; }

            public override string ToString() => type == DeviceType.CPU ? "cpu" : index == -1 ? type.ToString().ToLowerInvariant() : $"{type.ToString().ToLowerInvariant()}:{index}";

            public static implicit operator Device(string description) => new(description);
        }

        public static readonly Device CPU = new(DeviceType.CPU, -1);
        public static readonly Device META = new(DeviceType.META, -1);
        public static Device CUDA => new(DeviceType.CUDA, -1);

        public static Device device(string description) => new(description);
        public static Device device(string deviceType, int index = -1) => new(deviceType, index);
        public static Device device(DeviceType deviceType, int index = -1) => new(deviceType, index);

        public static partial class cuda
        {
            /// <summary>Whether CUDA is available (never, in this CPU build of libtorch).</summary>
            public static bool is_available() => false;
            public static int device_count() => 0;
        }
    }
}
