namespace VectorFit.Distributed;

/// <summary>How <see cref="MpiWorld.Initialize"/> finds MPI and how long a collective may wait for the other ranks.</summary>
public sealed record MpiOptions
{
    /// <summary>The default <see cref="Timeout"/>: 5 minutes.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The MPI shared library to load, e.g. <c>libmpi.so.40</c> (Open MPI) or <c>libmpich.so.12</c> (MPICH). Default <c>null</c>:
    /// the <c>VECTORFIT_MPI_LIBRARY</c> environment variable when set, else the library of the launcher that started the process
    /// (Open MPI's <c>mpirun</c> or MPICH's Hydra <c>mpiexec</c>), else Open MPI, then MPICH.
    /// </summary>
    public string? LibraryPath { get; init; }

    /// <summary>
    /// The longest any one collective (all-reduce, broadcast, barrier) may wait for the other ranks. Default 5 minutes.
    /// </summary>
    /// <remarks>
    /// A collective waits for the slowest rank, so this must exceed the longest stretch one rank computes or writes alone between
    /// two collectives (a step, an evaluation, a checkpoint written by rank 0). When it passes, a rank has died or hung, and the
    /// world fails as <see cref="AbortOnTimeout"/> says.
    /// </remarks>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    /// <summary>
    /// On a timeout or an MPI error: <c>true</c> (the default) writes the reason to standard error and calls <c>MPI_Abort</c>, which
    /// ends every rank of the job (a hung rank included) with exit code 1; <c>false</c> throws an <see cref="MpiException"/> and
    /// leaves the world failed (every later call throws; <see cref="MpiWorld.Dispose"/> then aborts the job).
    /// </summary>
    public bool AbortOnTimeout { get; init; } = true;

    /// <summary>Checks every field.</summary>
    /// <exception cref="ArgumentException">A field is out of range.</exception>
    public void Validate()
    {
        if (Timeout <= TimeSpan.Zero || Timeout > TimeSpan.FromDays(7))
        {
            throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, $"Timeout must be positive and at most 7 days, got {Timeout}.");
        }

        if (LibraryPath is not null && string.IsNullOrWhiteSpace(LibraryPath))
        {
            throw new ArgumentException("LibraryPath must be null (find the library) or a file name or path such as libmpi.so.40, got an empty string.", nameof(LibraryPath));
        }
    }
}
