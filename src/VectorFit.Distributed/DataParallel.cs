using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit.Distributed;

/// <summary>
/// Data-parallel training over an <see cref="MpiWorld"/>: every rank holds the whole (frozen) model and computes the gradients of its
/// part of each batch; after <c>backward()</c>, <see cref="AverageGradients"/> replaces each trainable gradient by its mean over the
/// ranks, in one fused all-reduce, so every rank takes the identical optimizer step and AVF step.
/// </summary>
/// <remarks>
/// <para>
/// VectorFit trains only σ, b and the head (about 35,000 values for all-MiniLM-L6-v2, 140,000 for BERT-base), so the all-reduce per step is
/// a few hundred kilobytes however large the frozen base is. The gradients travel in one buffer, in the order of the parameter list
/// given here: give every rank the same list (<c>report.GetTrainableParameters()</c> of identically adapted models); the constructor
/// checks that the ranks agree on its shapes.
/// </para>
/// <para>
/// Parameters frozen by AVF (<c>requires_grad = false</c>, <c>grad = null</c>) stay in the buffer as zeros and keep a null gradient.
/// Because every rank takes the same steps from the same values, the AVF scheduler (which reads parameter values) freezes the same
/// vectors on every rank; each gradient carries a presence flag through the all-reduce, and a parameter with a gradient on some ranks
/// but not others fails with the parameter's name instead of silently diverging.
/// </para>
/// <para>
/// For the averaged gradient to be the full-batch gradient, each rank's loss must be the mean over its own part of the batch, and the
/// parts equal in size (<see cref="MpiWorld.PartOf"/>: batch sizes divisible by the number of ranks); then
/// <c>(1/R)·Σ_r mean_r = mean</c>.
/// </para>
/// </remarks>
public sealed class DataParallel : IDisposable
{
    /// <summary>The integer 1, held for the whole native call (a Scalar made on the fly can be finalized mid-call).</summary>
    private static readonly Scalar HeldOne = 1.ToScalar();

    private readonly (string name, Parameter parameter)[] _parameters;
    private readonly long[] _offsets;
    private readonly Tensor _buffer;
    private long _averageCount;
    private long _communicationTicks;
    private bool _disposed;

    /// <summary>Prepares the fused gradient buffer for <paramref name="parameters"/> and checks that every rank passed the same shapes.</summary>
    /// <param name="world">The MPI world.</param>
    /// <param name="parameters">
    /// The trainable parameters with their names, in one order on every rank: e.g. <c>model.named_parameters()</c> filtered by
    /// <c>requires_grad</c> after the surgery. One floating dtype (float32 or float64); frozen ones may be included.
    /// </param>
    /// <exception cref="ArgumentException">No parameter, a repeated one, or mixed or non-floating dtypes.</exception>
    /// <exception cref="InvalidOperationException">The ranks passed different numbers or shapes of parameters.</exception>
    /// <remarks>A collective: every rank must construct it at the same point.</remarks>
    public DataParallel(MpiWorld world, IEnumerable<(string name, Parameter parameter)> parameters)
    {
        ArgumentNullException.ThrowIfNull(world);
        ArgumentNullException.ThrowIfNull(parameters);
        var list = parameters.ToArray();
        if (list.Length == 0)
        {
            throw new ArgumentException("DataParallel needs at least one trainable parameter; pass the adapted model's trainable parameters (report.GetTrainableParameters()).", nameof(parameters));
        }

        var seen = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        var dtype = list[0].parameter?.dtype ?? ScalarType.Float32;
        for (var i = 0; i < list.Length; i++)
        {
            var (name, parameter) = list[i];
            if (parameter is null || string.IsNullOrEmpty(name))
            {
                throw new ArgumentException($"Parameter {i} has no name or is null; pass (name, parameter) pairs as named_parameters() gives them.", nameof(parameters));
            }

            if (!seen.Add(parameter))
            {
                throw new ArgumentException($"The parameter '{name}' is listed twice; its gradient would be averaged twice.", nameof(parameters));
            }

            if (parameter.dtype != dtype || dtype is not (ScalarType.Float32 or ScalarType.Float64))
            {
                throw new ArgumentException($"DataParallel averages float32 or float64 parameters of one dtype; '{list[0].name}' is {dtype} and '{name}' is {parameter.dtype}.", nameof(parameters));
            }
        }

        World = world;
        _parameters = list;
        _offsets = new long[list.Length + 1];
        for (var i = 0; i < list.Length; i++)
        {
            _offsets[i + 1] = _offsets[i] + list[i].parameter.numel();
        }

        CheckSameLayoutOnEveryRank();

        // Values, then one presence flag per parameter (1 where this rank has a gradient).
        _buffer = zeros(ValueCount + list.Length, dtype: dtype);
    }

    /// <summary>Creates the helper for unnamed parameters (named by their position in the list in error messages).</summary>
    /// <param name="world">The MPI world.</param>
    /// <param name="parameters">The trainable parameters, in one order on every rank (<c>report.GetTrainableParameters()</c>).</param>
    /// <exception cref="ArgumentException">No parameter, a repeated one, or mixed or non-floating dtypes.</exception>
    /// <exception cref="InvalidOperationException">The ranks passed different numbers or shapes of parameters.</exception>
    public DataParallel(MpiWorld world, IEnumerable<Parameter> parameters)
        : this(world, (parameters ?? throw new ArgumentNullException(nameof(parameters))).Select((p, i) => ($"parameter {i}", p)))
    {
    }

    /// <summary>The MPI world the gradients are averaged over.</summary>
    public MpiWorld World { get; }

    /// <summary>The parameters whose gradients are averaged, in buffer order.</summary>
    public IReadOnlyList<(string name, Parameter parameter)> Parameters => _parameters;

    /// <summary>The number of gradient values in the fused buffer (the trainable values of the model).</summary>
    public long ValueCount => _offsets[^1];

    /// <summary>The size of the all-reduced buffer in bytes: the gradient values and one flag per parameter.</summary>
    public long BufferBytes => (ValueCount + _parameters.Length) * _buffer.ElementSize;

    /// <summary>How many times <see cref="AverageGradients"/> ran.</summary>
    public long AverageCount => _averageCount;

    /// <summary>The wall time spent in <see cref="AverageGradients"/> so far (copies and the all-reduce, including waiting for slower ranks).</summary>
    public TimeSpan CommunicationTime => TimeSpan.FromSeconds(_communicationTicks / (double)Stopwatch.Frequency);

    /// <summary>
    /// Replaces the gradient of every listed parameter by its mean over the ranks (one fused all-reduce). Call on every rank after
    /// <c>loss.backward()</c> and before <c>optimizer.step()</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">A parameter has a gradient on some ranks and none on others (their frozen sets differ).</exception>
    /// <exception cref="MpiException">MPI failed or a rank did not arrive within the timeout (when <see cref="MpiOptions.AbortOnTimeout"/> is false).</exception>
    public void AverageGradients()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var started = Stopwatch.GetTimestamp();
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var count = _parameters.Length;
            using var values = _buffer.narrow(0, 0, ValueCount);
            using var flags = _buffer.narrow(0, ValueCount, count);
            flags.zero_();
            for (var i = 0; i < count; i++)
            {
                var grad = _parameters[i].parameter.grad;
                var segment = values.narrow(0, _offsets[i], _offsets[i + 1] - _offsets[i]);
                if (grad is null)
                {
                    segment.zero_();
                }
                else
                {
                    segment.copy_(grad.reshape(-1));
                    flags[i].fill_(HeldOne);
                }
            }

            World.AllReduce(_buffer, MpiReduceOperation.Sum);

            var present = flags.to_type(ScalarType.Int64).data<long>().ToArray();
            var hasGrad = new bool[count];
            for (var i = 0; i < count; i++)
            {
                if (present[i] != 0 && present[i] != World.Size)
                {
                    throw new InvalidOperationException(
                        $"'{_parameters[i].name}' has a gradient on {present[i]} of {World.Size} ranks: the ranks' frozen sets or models differ " +
                        "(every rank must start from the same values, take the same steps and run the same AVF schedule).");
                }

                hasGrad[i] = present[i] != 0;
            }

            using var ranks = World.Size.ToScalar();
            values.div_(ranks);
            for (var i = 0; i < count; i++)
            {
                var grad = _parameters[i].parameter.grad;
                if (hasGrad[i] && grad is not null)
                {
                    grad.copy_(values.narrow(0, _offsets[i], _offsets[i + 1] - _offsets[i]).view_as(grad));
                }
            }
        }

        _averageCount++;
        _communicationTicks += Stopwatch.GetTimestamp() - started;
    }

    /// <summary>Copies the parameters' values from rank <paramref name="root"/> to every rank, so that all start identical.</summary>
    /// <param name="root">The rank whose values the others take; default 0.</param>
    /// <exception cref="MpiException">MPI failed or a rank did not arrive within the timeout (when <see cref="MpiOptions.AbortOnTimeout"/> is false).</exception>
    public void BroadcastParameters(int root = 0)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        World.Broadcast(_parameters.Select(p => (Tensor)p.parameter).ToList(), root);
    }

    /// <summary>The largest |difference| between any rank's parameter values and rank 0's: 0 when every rank holds the same model.</summary>
    /// <returns>The maximum over ranks and values, the same on every rank.</returns>
    /// <remarks>A collective (a broadcast of rank 0's values and an all-reduce of one number); for tests and occasional checks.</remarks>
    public double MaxParameterDifference()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var mine = cat(_parameters.Select(p => p.parameter.detach().reshape(-1).cpu()).ToList(), 0).to_type(ScalarType.Float64).contiguous();
        var root = mine.clone();
        World.Broadcast(root, 0);
        root.neg_();
        var difference = mine.add_(root, HeldOne).abs_().max().reshape(1).contiguous();
        World.AllReduce(difference, MpiReduceOperation.Max);
        return difference.item<double>();
    }

    /// <summary>
    /// Runs <paramref name="action"/> on rank 0 only (writing an adapter, a checkpoint, a log line) while the other ranks wait; then every
    /// rank continues, or every rank throws if the action failed on rank 0.
    /// </summary>
    /// <param name="action">The work of rank 0.</param>
    /// <exception cref="InvalidOperationException">The action threw on rank 0 (rank 0 rethrows the action's own exception).</exception>
    /// <remarks>The other ranks wait at most <see cref="MpiOptions.Timeout"/>: a checkpoint must take less.</remarks>
    public void RunOnRoot(Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        ObjectDisposedException.ThrowIf(_disposed, this);
        Exception? error = null;
        if (World.IsRoot)
        {
            try
            {
                action();
            }
            catch (Exception e)
            {
                error = e;
            }
        }

        // Rank 0's outcome travels to every rank (0 succeeded, 1 failed), which is also the barrier.
        using var status = tensor(new long[] { error is null ? 0 : 1 });
        World.AllReduce(status, MpiReduceOperation.Max);
        if (error is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
        }

        if (status.item<long>() != 0)
        {
            throw new InvalidOperationException("Rank 0 failed while running the root-only action (see its error); this rank stops too.");
        }
    }

    /// <summary>Releases the fused buffer.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _buffer.Dispose();
    }

    private void CheckSameLayoutOnEveryRank()
    {
        // Number of parameters, number of values, and a hash of the shapes: equal minimum and maximum over ranks means equal everywhere.
        long shapeHash = 17;
        foreach (var (_, parameter) in _parameters)
        {
            foreach (var dimension in parameter.shape)
            {
                shapeHash = unchecked((shapeHash * 1_000_003) + dimension);
            }

            shapeHash = unchecked((shapeHash * 31) + parameter.dim());
        }

        long[] layout = [_parameters.Length, ValueCount, shapeHash];
        using var max = tensor(layout);
        using var min = tensor(layout);
        World.AllReduce(max, MpiReduceOperation.Max);
        World.AllReduce(min, MpiReduceOperation.Min);
        var high = max.data<long>().ToArray();
        var low = min.data<long>().ToArray();
        if (!high.SequenceEqual(low))
        {
            throw new InvalidOperationException(
                $"The ranks passed different trainable parameters to DataParallel: this rank (rank {World.Rank}) has {_parameters.Length} parameters " +
                $"with {ValueCount} values; over all ranks the counts range from {low[0]} to {high[0]} parameters and {low[1]} to {high[1]} values" +
                (high[2] != low[2] ? " and the shapes differ" : "") + ". Build the same model and adapt it with the same options on every rank.");
        }
    }
}
