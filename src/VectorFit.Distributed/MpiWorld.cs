using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using TorchSharp;
using VectorFit.Distributed.Native;
using static TorchSharp.torch;

namespace VectorFit.Distributed;

/// <summary>
/// <c>MPI_COMM_WORLD</c>: this process's rank among the processes an MPI launcher (<c>mpirun</c>, <c>mpiexec</c>) started, and the
/// collectives data-parallel training needs — all-reduce of tensors in place, broadcast, barrier — each with a deadline.
/// </summary>
/// <remarks>
/// <para>
/// MPI is found at run time (Open MPI's <c>libmpi.so.40</c> or MPICH's <c>libmpich.so.12</c>, see <see cref="MpiOptions.LibraryPath"/>),
/// so a program that references this package runs without MPI until it calls <see cref="Initialize"/>. MPI can be initialised once
/// per process: one world per process, ended by <see cref="Dispose"/>.
/// </para>
/// <para>
/// <b>Deadlines.</b> MPI's blocking collectives wait forever for a rank that hung, and a rank that died is noticed only by some
/// launchers. Every collective here is therefore the non-blocking form (<c>MPI_Iallreduce</c>, <c>MPI_Ibcast</c>,
/// <c>MPI_Ibarrier</c>) polled with <c>MPI_Test</c> on the calling thread until it completes or <see cref="MpiOptions.Timeout"/>
/// passes. All MPI calls stay on the caller's thread (no watchdog thread calling into MPI, which would need
/// <c>MPI_THREAD_MULTIPLE</c>); the world is initialised with <c>MPI_THREAD_SERIALIZED</c> and calls are serialised by a lock. MPI
/// errors are returned (<c>MPI_ERRORS_RETURN</c>), not fatal, so they become clear messages.
/// </para>
/// <para>Tensors may be on any device and of any layout: a contiguous CPU tensor is reduced in its own memory, any other through a CPU copy.</para>
/// </remarks>
public sealed unsafe class MpiWorld : IDisposable
{
    private static readonly object InitializeLock = new();
    private static bool s_initialized;

    private readonly MpiLibrary _mpi;
    private readonly object _gate = new();
    private readonly long _timeoutTicks;
    private string? _failure;
    private bool _disposed;
    private PosixSignalRegistration? _terminated;

    private MpiWorld(MpiLibrary mpi, MpiOptions options, int rank, int size)
    {
        _mpi = mpi;
        Options = options;
        Rank = rank;
        Size = size;
        _timeoutTicks = (long)(options.Timeout.TotalSeconds * Stopwatch.Frequency);
        Library = mpi.Version();
        HostName = mpi.ProcessorName();
    }

    /// <summary>This process's rank in <c>MPI_COMM_WORLD</c>, from 0 to <see cref="Size"/> − 1.</summary>
    public int Rank { get; }

    /// <summary>The number of processes in <c>MPI_COMM_WORLD</c>; 1 when the program was started without a launcher.</summary>
    public int Size { get; }

    /// <summary>Whether this is rank 0, the rank that writes adapters, checkpoints and logs.</summary>
    public bool IsRoot => Rank == 0;

    /// <summary>The MPI library's version line, e.g. <c>Open MPI v4.1.4, …</c> or <c>MPICH Version: 4.0.2</c>.</summary>
    public string Library { get; }

    /// <summary>The file the MPI library was loaded from (<c>libmpi.so.40</c>, <c>libmpich.so.12</c> or <see cref="MpiOptions.LibraryPath"/>).</summary>
    public string LibraryPath => _mpi.Path;

    /// <summary>This process's host as MPI names it (<c>MPI_Get_processor_name</c>).</summary>
    public string HostName { get; }

    /// <summary>The options the world was initialised with.</summary>
    public MpiOptions Options { get; }

    /// <summary>Why the world failed (a timeout or an MPI error), or <c>null</c> while it works.</summary>
    public string? Failure => _failure;

    /// <summary>
    /// Loads MPI, calls <c>MPI_Init_thread</c> and returns this process's world. Call once per process, before any other rank waits
    /// on a collective.
    /// </summary>
    /// <param name="options">Where MPI is and the collective timeout; <c>null</c>: the defaults.</param>
    /// <returns>The world; dispose it at the end of the program (<c>MPI_Finalize</c>).</returns>
    /// <exception cref="MpiException">
    /// No MPI library could be loaded (the message names the apt packages), it lacks an MPI-3 function, <c>MPI_Init_thread</c>
    /// failed, or the library and the launcher disagree on the number of processes. Nothing is initialised then.
    /// </exception>
    /// <exception cref="InvalidOperationException">MPI was initialised before in this process (MPI allows it once).</exception>
    public static MpiWorld Initialize(MpiOptions? options = null)
    {
        options ??= new MpiOptions();
        options.Validate();
        lock (InitializeLock)
        {
            if (s_initialized)
            {
                throw new InvalidOperationException("MPI was already initialised in this process; MPI allows one MPI_Init per process, so create one MpiWorld and pass it on.");
            }

            // Everything is resolved before MPI_Init, so a missing library or symbol leaves nothing half-initialised.
            var mpi = MpiLibrary.Load(options.LibraryPath);
            int already = 0, provided = 0, rank = 0, size = 0;
            Check(mpi, mpi.Initialized(&already), "MPI_Initialized");
            if (already != 0)
            {
                throw new InvalidOperationException($"MPI ({mpi.Path}) was already initialised in this process by other code; MpiWorld must make the one MPI_Init call.");
            }

            s_initialized = true;
            Check(mpi, mpi.Init_thread(null, null, MpiLibrary.ThreadSerialized, &provided), "MPI_Init_thread");
            var finalize = true;
            try
            {
                if (provided < MpiLibrary.ThreadSerialized)
                {
                    throw new MpiException($"{mpi.Path} provides MPI thread level {provided}; VectorFit.Distributed needs MPI_THREAD_SERIALIZED (2), because .NET may call it from more than one thread.");
                }

                Check(mpi, mpi.Comm_set_errhandler(mpi.CommWorld, mpi.ErrorsReturn), "MPI_Comm_set_errhandler");
                Check(mpi, mpi.Comm_rank(mpi.CommWorld, &rank), "MPI_Comm_rank");
                Check(mpi, mpi.Comm_size(mpi.CommWorld, &size), "MPI_Comm_size");
                var launched = LauncherSize();
                if (launched is { } expected && expected != size)
                {
                    throw new MpiException(
                        $"The launcher started {expected} processes, but the MPI library {mpi.Path} ({mpi.Flavor}) sees a world of {size}: the program " +
                        "loaded another MPI than the one whose mpirun started it. Launch with that library's own mpirun (Open MPI: mpirun.openmpi, " +
                        "MPICH: mpirun.mpich) or set VECTORFIT_MPI_LIBRARY to the matching library.");
                }

                finalize = false;
                var world = new MpiWorld(mpi, options, rank, size);
                world._terminated = PosixSignalRegistration.Create(PosixSignal.SIGTERM, world.OnTerminate);
                return world;
            }
            finally
            {
                if (finalize)
                {
                    mpi.Finalize();
                }
            }
        }
    }

    /// <summary>Reduces <paramref name="tensor"/> element-wise across ranks, in place: afterwards every rank holds the result.</summary>
    /// <param name="tensor">A float32, float64, int32 or int64 tensor of the same shape on every rank.</param>
    /// <param name="operation">The reduction; default the sum.</param>
    /// <exception cref="ArgumentException">An unsupported dtype.</exception>
    /// <exception cref="MpiException">MPI failed or the timeout passed (when <see cref="MpiOptions.AbortOnTimeout"/> is false).</exception>
    public void AllReduce(Tensor tensor, MpiReduceOperation operation = MpiReduceOperation.Sum)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        AllReduce([tensor], operation);
    }

    /// <summary>
    /// Reduces a set of tensors element-wise across ranks, in place, as one fused buffer (one collective, in the list's order):
    /// afterwards every rank holds the result in each tensor.
    /// </summary>
    /// <param name="tensors">Tensors of one dtype (float32, float64, int32 or int64), the same shapes in the same order on every rank.</param>
    /// <param name="operation">The reduction; default the sum.</param>
    /// <exception cref="ArgumentException">An empty list, mixed or unsupported dtypes.</exception>
    /// <exception cref="MpiException">MPI failed or the timeout passed (when <see cref="MpiOptions.AbortOnTimeout"/> is false).</exception>
    public void AllReduce(IReadOnlyList<Tensor> tensors, MpiReduceOperation operation = MpiReduceOperation.Sum)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Count == 0)
        {
            throw new ArgumentException("AllReduce needs at least one tensor.", nameof(tensors));
        }

        var dtype = tensors[0].dtype;
        for (var i = 0; i < tensors.Count; i++)
        {
            ArgumentNullException.ThrowIfNull(tensors[i], $"{nameof(tensors)}[{i}]");
            if (tensors[i].dtype != dtype)
            {
                throw new ArgumentException($"AllReduce fuses tensors of one dtype; tensor 0 is {dtype} but tensor {i} is {tensors[i].dtype}. Reduce each dtype in its own call.", nameof(tensors));
            }
        }

        var datatype = Datatype(dtype);
        var op = operation switch
        {
            MpiReduceOperation.Sum => _mpi.OpSum,
            MpiReduceOperation.Max => _mpi.OpMax,
            MpiReduceOperation.Min => _mpi.OpMin,
            _ => throw new ArgumentOutOfRangeException(nameof(operation), operation, "operation must be Sum, Max or Min."),
        };

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        if (tensors.Count == 1 && IsCpuContiguous(tensors[0]))
        {
            AllReduceInPlace(tensors[0], datatype, op);
            return;
        }

        var fused = cat(tensors.Select(t => t.detach().reshape(-1).cpu()).ToList(), 0).contiguous();
        AllReduceInPlace(fused, datatype, op);
        long offset = 0;
        foreach (var tensor in tensors)
        {
            tensor.copy_(fused.narrow(0, offset, tensor.numel()).view_as(tensor));
            offset += tensor.numel();
        }
    }

    /// <summary>Copies each tensor from rank <paramref name="root"/> to every other rank, in place.</summary>
    /// <param name="tensors">Tensors of any dtype, the same shapes and dtypes in the same order on every rank.</param>
    /// <param name="root">The rank whose values every rank receives; default 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="root"/> is not a rank.</exception>
    /// <exception cref="MpiException">MPI failed or the timeout passed (when <see cref="MpiOptions.AbortOnTimeout"/> is false).</exception>
    public void Broadcast(IReadOnlyList<Tensor> tensors, int root = 0)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (root < 0 || root >= Size)
        {
            throw new ArgumentOutOfRangeException(nameof(root), root, $"root must be a rank between 0 and {Size - 1}, got {root}.");
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var tensor in tensors)
        {
            ArgumentNullException.ThrowIfNull(tensor);
            var buffer = IsCpuContiguous(tensor) ? tensor : tensor.detach().cpu().contiguous();
            var bytes = buffer.bytes;
            fixed (byte* p = bytes)
            {
                for (long offset = 0; offset < bytes.Length; offset += int.MaxValue)
                {
                    var count = (int)Math.Min(int.MaxValue, bytes.Length - offset);
                    var address = (nint)(p + offset);
                    Collective($"broadcast of {bytes.Length} bytes from rank {root}",
                        (MpiLibrary m, nint* request) => m.Ibcast(address, count, m.Byte, root, m.CommWorld, request));
                }
            }

            if (!ReferenceEquals(buffer, tensor))
            {
                tensor.copy_(buffer);
            }
        }
    }

    /// <summary>Copies a tensor from rank <paramref name="root"/> to every other rank, in place.</summary>
    /// <param name="tensor">A tensor of the same shape and dtype on every rank.</param>
    /// <param name="root">The rank whose values every rank receives; default 0.</param>
    /// <exception cref="MpiException">MPI failed or the timeout passed (when <see cref="MpiOptions.AbortOnTimeout"/> is false).</exception>
    public void Broadcast(Tensor tensor, int root = 0)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        Broadcast([tensor], root);
    }

    /// <summary>Waits until every rank has called <see cref="Barrier"/>.</summary>
    /// <exception cref="MpiException">MPI failed or the timeout passed (when <see cref="MpiOptions.AbortOnTimeout"/> is false).</exception>
    public void Barrier() => Collective("barrier", (MpiLibrary m, nint* request) => m.Ibarrier(m.CommWorld, request));

    /// <summary>
    /// The part of <paramref name="count"/> items (a batch, a data set) this rank takes: contiguous, in rank order, sizes differing by at
    /// most one.
    /// </summary>
    /// <param name="count">The number of items to split across ranks.</param>
    /// <returns>The first item of this rank's part and its length (0 when there are fewer items than ranks).</returns>
    public (long start, long length) PartOf(long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var baseLength = count / Size;
        var extra = count % Size;
        var start = (Rank * baseLength) + Math.Min(Rank, extra);
        return (start, baseLength + (Rank < extra ? 1 : 0));
    }

    /// <summary>Writes <paramref name="reason"/> to standard error and ends every rank of the job (<c>MPI_Abort</c>); does not return.</summary>
    /// <param name="reason">Why, for the log.</param>
    /// <param name="exitCode">The exit code the launcher reports; default 1.</param>
    [DoesNotReturn]
    public void Abort(string reason, int exitCode = 1)
    {
        Console.Error.WriteLine($"VectorFit.Distributed: rank {Rank} of {Size} ({HostName}) aborts the MPI job: {reason}");
        Console.Error.Flush();
        _mpi.Abort(_mpi.CommWorld, exitCode);
        Environment.Exit(exitCode);
    }

    /// <summary>
    /// Ends MPI: waits (within the timeout) for every rank to arrive, then <c>MPI_Finalize</c>. A failed world (or one whose final
    /// barrier times out) aborts the job instead, since finalizing with a dead or hung rank would wait forever.
    /// </summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        if (_failure is null)
        {
            try
            {
                WaitFor("the final barrier before MPI_Finalize", (MpiLibrary m, nint* request) => m.Ibarrier(m.CommWorld, request), abort: false);
            }
            catch (MpiException)
            {
            }
        }

        if (_failure is not null)
        {
            Abort(_failure);
        }

        _terminated?.Dispose();
        _mpi.Finalize();
    }

    private delegate int Start(MpiLibrary mpi, nint* request);

    /// <summary>
    /// The launcher ends every rank with SIGTERM when one rank dies (Open MPI's mpirun, MPICH's Hydra): say so on this rank, whose own
    /// stack shows only a collective that was waiting. The signal then takes its default course (the process exits).
    /// </summary>
    private void OnTerminate(PosixSignalContext context)
    {
        Console.Error.WriteLine(
            $"VectorFit.Distributed: rank {Rank} of {Size} ({HostName}) was terminated by the MPI launcher (SIGTERM), usually because another " +
            "rank of the job died or failed: look for its error (or the launcher's \"exited on signal\" line) above.");
        Console.Error.Flush();
    }

    private void AllReduceInPlace(Tensor buffer, nint datatype, nint op)
    {
        var elementSize = buffer.ElementSize;
        var bytes = buffer.bytes;
        var total = bytes.Length / elementSize;
        fixed (byte* p = bytes)
        {
            for (long first = 0; first < total; first += int.MaxValue)
            {
                var count = (int)Math.Min(int.MaxValue, total - first);
                var address = (nint)(p + (first * elementSize));
                Collective($"all-reduce of {total} values ({buffer.dtype})",
                    (MpiLibrary m, nint* request) => m.Iallreduce(m.InPlace, address, count, datatype, op, m.CommWorld, request));
            }
        }
    }

    private void Collective(string what, Start start)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_failure is not null)
            {
                throw new MpiException($"The MPI world failed earlier and cannot be used: {_failure}");
            }

            WaitFor(what, start, Options.AbortOnTimeout);
        }
    }

    /// <summary>Starts a non-blocking collective and polls it until it completes or the timeout passes.</summary>
    private void WaitFor(string what, Start start, bool abort)
    {
        nint request = 0;
        var code = start(_mpi, &request);
        if (code != MpiLibrary.Success)
        {
            Fail($"rank {Rank}: {what} failed to start: {_mpi.ErrorText(code)}", abort);
        }

        var begun = Stopwatch.GetTimestamp();
        var flag = 0;
        for (var polls = 0; ; polls++)
        {
            code = _mpi.Test(&request, &flag, _mpi.StatusIgnore);
            if (code != MpiLibrary.Success)
            {
                Fail($"rank {Rank}: {what} failed: {_mpi.ErrorText(code)} (another rank has probably died)", abort);
            }

            if (flag != 0)
            {
                return;
            }

            var elapsed = Stopwatch.GetTimestamp() - begun;
            if (elapsed > _timeoutTicks)
            {
                Fail($"rank {Rank} of {Size} ({HostName}): {what} did not complete within {Options.Timeout.TotalSeconds:0.###} s (MpiOptions.Timeout): " +
                    "another rank has died or hung, or computes longer than the timeout between two collectives.", abort);
            }

            // Spin for the first ~50 µs (an all-reduce of a few hundred KB on one host), then yield, then sleep: a rank waiting for a
            // slow peer leaves the cores to it.
            if (polls < 200)
            {
                Thread.SpinWait(20);
            }
            else if (elapsed < Stopwatch.Frequency / 500)
            {
                Thread.Yield();
            }
            else
            {
                Thread.Sleep(1);
            }
        }
    }

    [DoesNotReturn]
    private void Fail(string reason, bool abort)
    {
        _failure ??= reason;
        if (abort)
        {
            Abort(reason);
        }

        throw new MpiException(reason);
    }

    private nint Datatype(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => _mpi.Float,
        ScalarType.Float64 => _mpi.Double,
        ScalarType.Int32 => _mpi.Int,
        ScalarType.Int64 => _mpi.LongLong,
        _ => throw new ArgumentException($"AllReduce supports float32, float64, int32 and int64 tensors, got {dtype}; reduce a float32 copy of a half-precision tensor.", "tensors"),
    };

    private static bool IsCpuContiguous(Tensor tensor) => tensor.device_type == DeviceType.CPU && tensor.is_contiguous();

    private static void Check(MpiLibrary mpi, int code, string call)
    {
        if (code != MpiLibrary.Success)
        {
            throw new MpiException($"{call} failed in {mpi.Path}: {mpi.ErrorText(code)}");
        }
    }

    private static int? LauncherSize()
    {
        foreach (var name in new[] { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE" })
        {
            if (int.TryParse(Environment.GetEnvironmentVariable(name), out var size))
            {
                return size;
            }
        }

        return null;
    }
}
