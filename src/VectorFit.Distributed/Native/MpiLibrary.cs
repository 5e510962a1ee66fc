using System.Runtime.InteropServices;

namespace VectorFit.Distributed.Native;

/// <summary>The MPI implementations the binding knows the handles of.</summary>
internal enum MpiFlavor
{
    /// <summary>Open MPI (<c>libmpi.so.40</c>): a handle is the address of an exported global (<c>ompi_mpi_comm_world</c>, …).</summary>
    OpenMpi,

    /// <summary>MPICH and its ABI (<c>libmpich.so.12</c>, Intel MPI, MVAPICH): a handle is an integer constant from <c>mpi.h</c>.</summary>
    Mpich,
}

/// <summary>
/// The MPI C functions and predefined handles the library uses, resolved from an MPI shared library loaded at run time.
/// </summary>
/// <remarks>
/// A thin binding rather than a NuGet wrapper: the C API is the one stable interface of Open MPI and MPICH. The library is
/// opened with <c>RTLD_GLOBAL</c> because Open MPI loads its components as plug-ins that resolve symbols of <c>libmpi</c>
/// globally. Every handle type (<c>MPI_Comm</c>, <c>MPI_Datatype</c>, <c>MPI_Op</c>, <c>MPI_Request</c>) is passed as a
/// pointer-sized integer: a pointer in Open MPI, a 32-bit <c>int</c> in MPICH (its value in the low half of the register,
/// which is where the x86-64 and AArch64 calling conventions pass an <c>int</c>). Nothing here calls into MPI; the
/// constructor only resolves, so a missing symbol fails before <c>MPI_Init</c>.
/// </remarks>
internal sealed unsafe class MpiLibrary
{
    internal const int Success = 0;
    internal const int ThreadSerialized = 2;

    private MpiLibrary(string path, nint handle, MpiFlavor flavor)
    {
        Path = path;
        Flavor = flavor;
        nint Export(string name)
        {
            if (!NativeLibrary.TryGetExport(handle, name, out var address))
            {
                throw new MpiException($"The MPI library '{path}' has no function {name}; it is not an MPI-3 library. Install Open MPI (apt-get install openmpi-bin libopenmpi-dev) or MPICH (apt-get install mpich).");
            }

            return address;
        }

        Init_thread = (delegate* unmanaged<int*, nint*, int, int*, int>)Export("MPI_Init_thread");
        Initialized = (delegate* unmanaged<int*, int>)Export("MPI_Initialized");
        Finalized = (delegate* unmanaged<int*, int>)Export("MPI_Finalized");
        Finalize = (delegate* unmanaged<int>)Export("MPI_Finalize");
        Abort = (delegate* unmanaged<nint, int, int>)Export("MPI_Abort");
        Comm_rank = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_rank");
        Comm_size = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_size");
        Comm_set_errhandler = (delegate* unmanaged<nint, nint, int>)Export("MPI_Comm_set_errhandler");
        Iallreduce = (delegate* unmanaged<nint, nint, int, nint, nint, nint, nint*, int>)Export("MPI_Iallreduce");
        Ibcast = (delegate* unmanaged<nint, int, nint, int, nint, nint*, int>)Export("MPI_Ibcast");
        Ibarrier = (delegate* unmanaged<nint, nint*, int>)Export("MPI_Ibarrier");
        Test = (delegate* unmanaged<nint*, int*, nint, int>)Export("MPI_Test");
        Error_string = (delegate* unmanaged<int, byte*, int*, int>)Export("MPI_Error_string");
        Get_library_version = (delegate* unmanaged<byte*, int*, int>)Export("MPI_Get_library_version");
        Get_processor_name = (delegate* unmanaged<byte*, int*, int>)Export("MPI_Get_processor_name");

        if (flavor == MpiFlavor.OpenMpi)
        {
            CommWorld = Export("ompi_mpi_comm_world");
            Float = Export("ompi_mpi_float");
            Double = Export("ompi_mpi_double");
            Int = Export("ompi_mpi_int");
            LongLong = Export("ompi_mpi_long_long_int");
            Byte = Export("ompi_mpi_byte");
            OpSum = Export("ompi_mpi_op_sum");
            OpMax = Export("ompi_mpi_op_max");
            OpMin = Export("ompi_mpi_op_min");
            ErrorsReturn = Export("ompi_mpi_errors_return");
            InPlace = 1;
            StatusIgnore = 0;
        }
        else
        {
            // mpich/mpi.h (MPICH 4.0.2, the same since MPICH 3): the MPICH ABI that Intel MPI and MVAPICH share.
            CommWorld = 0x44000000;
            Float = 0x4c00040a;
            Double = 0x4c00080b;
            Int = 0x4c000405;
            LongLong = 0x4c000809;
            Byte = 0x4c00010d;
            OpMax = 0x58000001;
            OpMin = 0x58000002;
            OpSum = 0x58000003;
            ErrorsReturn = 0x54000001;
            InPlace = -1;
            StatusIgnore = 1;
        }
    }

    internal string Path { get; }

    internal MpiFlavor Flavor { get; }

    internal delegate* unmanaged<int*, nint*, int, int*, int> Init_thread { get; }
    internal delegate* unmanaged<int*, int> Initialized { get; }
    internal delegate* unmanaged<int*, int> Finalized { get; }
    internal delegate* unmanaged<int> Finalize { get; }
    internal delegate* unmanaged<nint, int, int> Abort { get; }
    internal delegate* unmanaged<nint, int*, int> Comm_rank { get; }
    internal delegate* unmanaged<nint, int*, int> Comm_size { get; }
    internal delegate* unmanaged<nint, nint, int> Comm_set_errhandler { get; }
    internal delegate* unmanaged<nint, nint, int, nint, nint, nint, nint*, int> Iallreduce { get; }
    internal delegate* unmanaged<nint, int, nint, int, nint, nint*, int> Ibcast { get; }
    internal delegate* unmanaged<nint, nint*, int> Ibarrier { get; }
    internal delegate* unmanaged<nint*, int*, nint, int> Test { get; }
    internal delegate* unmanaged<int, byte*, int*, int> Error_string { get; }
    internal delegate* unmanaged<byte*, int*, int> Get_library_version { get; }
    internal delegate* unmanaged<byte*, int*, int> Get_processor_name { get; }

    internal nint CommWorld { get; }
    internal nint Float { get; }
    internal nint Double { get; }
    internal nint Int { get; }
    internal nint LongLong { get; }
    internal nint Byte { get; }
    internal nint OpSum { get; }
    internal nint OpMax { get; }
    internal nint OpMin { get; }
    internal nint ErrorsReturn { get; }
    internal nint InPlace { get; }
    internal nint StatusIgnore { get; }

    /// <summary>
    /// Opens the MPI library: <paramref name="path"/> when given, else the one matching the launcher that started this process
    /// (Open MPI's <c>mpirun</c> sets <c>OMPI_COMM_WORLD_*</c>, MPICH's Hydra sets <c>PMI_*</c>), else Open MPI then MPICH.
    /// </summary>
    internal static MpiLibrary Load(string? path)
    {
        var candidates = path is not null ? [path] : Candidates();
        var tried = new List<string>();
        foreach (var candidate in candidates)
        {
            var handle = Dl.Open(candidate, out var error);
            if (handle == 0)
            {
                tried.Add($"{candidate}: {error}");
                continue;
            }

            var flavor = NativeLibrary.TryGetExport(handle, "ompi_mpi_comm_world", out _) ? MpiFlavor.OpenMpi : MpiFlavor.Mpich;
            return new MpiLibrary(candidate, handle, flavor);
        }

        throw new MpiException(
            "No MPI library could be loaded (" + string.Join("; ", tried) + "). Install Open MPI (Debian/Ubuntu: " +
            "apt-get install openmpi-bin libopenmpi-dev, which provides libmpi.so.40 and mpirun) or MPICH (apt-get install mpich: " +
            "libmpich.so.12 and mpiexec), or name the library with MpiOptions.LibraryPath or the VECTORFIT_MPI_LIBRARY environment variable.");
    }

    private static string[] Candidates()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("VECTORFIT_MPI_LIBRARY");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return [fromEnvironment];
        }

        const string openMpi = "libmpi.so.40", mpich = "libmpich.so.12";
        var underMpich = Environment.GetEnvironmentVariable("PMI_RANK") is not null || Environment.GetEnvironmentVariable("PMI_FD") is not null
            || Environment.GetEnvironmentVariable("HYDI_CONTROL_FD") is not null;
        var underOpenMpi = Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_RANK") is not null;
        return underMpich && !underOpenMpi ? [mpich, openMpi] : [openMpi, mpich];
    }

    /// <summary>The text of an MPI error code.</summary>
    internal string ErrorText(int code)
    {
        var buffer = stackalloc byte[1024];
        var length = 0;
        return Error_string(code, buffer, &length) == Success ? Marshal.PtrToStringUTF8((nint)buffer, Math.Clamp(length, 0, 1023)) : $"MPI error {code}";
    }

    /// <summary>The library's own version line (<c>MPI_Get_library_version</c>), trimmed to its first line.</summary>
    internal string Version()
    {
        var buffer = new byte[8192];
        var length = 0;
        fixed (byte* p = buffer)
        {
            if (Get_library_version(p, &length) != Success)
            {
                return Flavor.ToString();
            }
        }

        var text = System.Text.Encoding.UTF8.GetString(buffer, 0, Math.Clamp(length, 0, buffer.Length)).TrimEnd('\0');
        var line = text.Split('\n')[0].Trim();
        return line.Length == 0 ? Flavor.ToString() : line;
    }

    /// <summary>This process's host name as MPI reports it.</summary>
    internal string ProcessorName()
    {
        var buffer = stackalloc byte[256];
        var length = 0;
        return Get_processor_name(buffer, &length) == Success ? Marshal.PtrToStringUTF8((nint)buffer, Math.Clamp(length, 0, 255)) : Environment.MachineName;
    }

    /// <summary><c>dlopen</c> with <c>RTLD_NOW | RTLD_GLOBAL</c> (NativeLibrary.Load opens libraries locally).</summary>
    private static class Dl
    {
        private const int RtldNow = 2;
        private const int RtldGlobal = 0x100;

        internal static nint Open(string name, out string error)
        {
            error = "";
            try
            {
                // Bind dlerror before dlopen: the runtime resolves a P/Invoke on its first call with dlsym, which clears dlopen's error.
                _ = dlerror();
                var handle = dlopen(name, RtldNow | RtldGlobal);
                if (handle == 0)
                {
                    error = Marshal.PtrToStringUTF8(dlerror()) ?? "not found";
                }

                return handle;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                // Not glibc, or a glibc before 2.34 (dlopen in libdl): the runtime's own loader, which opens the library locally.
                var handle = NativeLibrary.TryLoad(name, out var h) ? h : 0;
                error = handle == 0 ? "not found" : "";
                return handle;
            }
        }

        [DllImport("libc.so.6", EntryPoint = "dlopen")]
        private static extern nint dlopen([MarshalAs(UnmanagedType.LPUTF8Str)] string file, int mode);

        [DllImport("libc.so.6", EntryPoint = "dlerror")]
        private static extern nint dlerror();
    }
}
