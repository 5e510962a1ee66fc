using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// The common base of the layers that replace a <c>Linear</c> with the frozen thin SVD of its weight,
/// <c>W₀ = U·diag(σ)·Vᵀ</c>, and train something small on it: <see cref="VectorFitLinear"/> (σ and b) and
/// <see cref="SvftLinear"/> (a sparse <c>M</c> and b).
/// </summary>
/// <remarks>
/// <para>
/// It holds what every such layer has: the frozen factors <see cref="U"/> <c>(out_features, r)</c> and <see cref="V"/>
/// <c>(in_features, r)</c> (persistent buffers <c>U</c>, <c>V</c>), the optional <see cref="bias"/> (parameter <c>bias</c>),
/// the shapes, the input checks, the moves between devices and dtypes (<c>Module.to</c>), and the merge back into a
/// <c>Linear</c> (<see cref="ToLinear"/>). U and V are stored in the factor dtype (<see cref="VectorFitLinearOptions.FactorDType"/>,
/// by default the weight's own); everything else, and all arithmetic, is in the compute dtype (the weight's), to which U
/// and V are converted for each product. A method adds its own trained tensors and its evaluation; surgery, reports,
/// adapter files, the base-model fingerprint, AVF and merging reach every method through the members of this type.
/// </para>
/// <para>
/// The methods are registered with <see cref="AdapterMethod"/> (one record per method, e.g. <see cref="VectorFitMethod"/>,
/// <see cref="SvftMethod"/>), which builds the layer during <see cref="ModelSurgery.Apply"/>.
/// </para>
/// </remarks>
public abstract class SvdAdaptedLinear : nn.Module<Tensor, Tensor>
{
    /// <summary>The state_dict key of the bias, relative to the layer.</summary>
    public const string BiasKey = "bias";

    /// <summary>The state_dict key of the left singular vectors, relative to the layer.</summary>
    public const string UKey = "U";

    /// <summary>The state_dict key of the right singular vectors, relative to the layer.</summary>
    public const string VKey = "V";

    // Registered by the derived class's RegisterComponents (reflection sees private protected fields of base types).
    [ComponentName(Name = BiasKey)]
    private protected Parameter? _bias;

    [ComponentName(Name = UKey)]
    private protected Tensor _u;

    [ComponentName(Name = VKey)]
    private protected Tensor _v;

    private readonly bool _trainBias;

    // The dtype of σ, the bias, the input and the output, and of all arithmetic; U and V may be stored narrower.
    private ScalarType _computeDType;

    /// <summary>
    /// Takes the thin SVD of <paramref name="linear"/>'s weight (float64 on its device, rounded once to its dtype, U and V to
    /// <paramref name="factorDType"/> when given) and copies its bias; the derived class takes the singular values from
    /// <paramref name="singularValues"/> and registers its components.
    /// </summary>
    private protected SvdAdaptedLinear(
        string name, Linear linear, bool trainBias, bool addBias, ScalarType? factorDType, Func<Tensor, string, ScalarType?, ThinSvd>? svdSource, out Tensor singularValues)
        : base(name)
    {
        ArgumentNullException.ThrowIfNull(linear);
        _computeDType = linear.weight.dtype;
        if (factorDType is { } factors && VectorFitLinearOptions.FactorDTypeProblem(factors, _computeDType) is { } problem)
        {
            throw new ArgumentException($"{problem}.", nameof(factorDType));
        }

        FactorDType = factorDType;

        // The layer takes ownership of the decomposition's tensors (no copies of U and V).
        var svd = ThinSvd.ForLinear(linear, svdSource, factorDType, out var sourceWeight);
        SourceWeight = sourceWeight;
        in_features = linear.weight.shape[1];
        out_features = linear.weight.shape[0];
        rank = svd.Rank;
        _u = svd.U;
        _v = svd.V;
        singularValues = svd.S;
        _trainBias = trainBias;

        using (torch.no_grad())
        {
            if (linear.bias is { } existingBias)
            {
                _bias = NewParameter(existingBias.detach().clone(), trainBias);
            }
            else if (addBias)
            {
                _bias = NewParameter(torch.zeros(out_features, dtype: _computeDType, device: _u.device), trainable: true);
            }
        }
    }

    /// <summary>The method this layer implements (recorded in reports and adapter files).</summary>
    public abstract AdaptationMethod Method { get; }

    /// <summary>
    /// The dtype U and V are kept in whatever the compute dtype (<see cref="VectorFitLinearOptions.FactorDType"/>), or <c>null</c>
    /// when they follow the compute dtype (the default).
    /// </summary>
    public ScalarType? FactorDType { get; }

    /// <summary>The dtype of σ, the bias, the input and the output and of all arithmetic: the weight's, or the one <c>Module.to</c> gave.</summary>
    internal ScalarType ComputeDType => _computeDType;

    /// <summary>
    /// <paramref name="factor"/> (U or V, or a handle on them) in the compute dtype: the tensor itself when it is stored so,
    /// otherwise a converted copy in the caller's dispose scope (autograd keeps it for the backward pass like any operand).
    /// </summary>
    internal Tensor InComputeDType(Tensor factor) => factor.dtype == _computeDType ? factor : factor.to(_computeDType);

    /// <summary>
    /// The bias <c>(out_features)</c>, or <c>null</c> when the original layer had none and no bias was added; state_dict key
    /// <c>bias</c>.
    /// </summary>
    public Parameter? bias => _bias;

    /// <summary>Frozen left singular vectors, <c>(out_features, r)</c>; persistent buffer <c>U</c>. Owned by the layer: do not dispose.</summary>
    /// <remarks>
    /// Reading it tells the layer that U was handed out, so a VectorFit layer's composed weight is rebuilt at its next call:
    /// a write into U's memory that bypasses libtorch (<c>data&lt;T&gt;()</c>) is then seen too. Fetch U again before such a
    /// write rather than keeping the tensor across forwards (<see cref="ComposedWeightMode"/>).
    /// </remarks>
    public Tensor U
    {
        get
        {
            FactorHandouts++;
            return _u;
        }
    }

    /// <summary>Frozen right singular vectors, <c>(in_features, r)</c>; persistent buffer <c>V</c> (so <c>W₀ = U·diag(σ₀)·Vᵀ</c>). Owned by the layer: do not dispose.</summary>
    /// <remarks>Reading it tells the layer that V was handed out, as for <see cref="U"/>.</remarks>
    public Tensor V
    {
        get
        {
            FactorHandouts++;
            return _v;
        }
    }

    /// <summary>
    /// How many times U or V left the layer (its <see cref="U"/>/<see cref="V"/> properties, <c>state_dict</c>,
    /// <c>named_buffers</c>, <c>get_buffer</c>, directly or through a parent): a handle that left may be written through
    /// without libtorch (<c>Module.load</c> does so on the CPU), so a cache built before a hand-out is not trusted after it.
    /// </summary>
    internal long FactorHandouts { get; private set; }

    /// <summary>U and V for the library's own reads (fingerprints, tests): not a hand-out, so nothing may write through them.</summary>
    internal (Tensor U, Tensor V) ReadOnlyFactors => (_u, _v);

    /// <inheritdoc />
    /// <remarks>Counts as a hand-out of U and V (see <see cref="U"/>).</remarks>
    public override Dictionary<string, Tensor> state_dict(Dictionary<string, Tensor>? destination = null, string? prefix = null)
    {
        FactorHandouts++;
        return base.state_dict(destination, prefix);
    }

    /// <inheritdoc />
    /// <remarks>Counts as a hand-out of U and V (see <see cref="U"/>).</remarks>
    public override IEnumerable<(string name, Tensor buffer)> named_buffers(bool recurse = true, bool include_nonpersistent = true)
    {
        foreach (var entry in base.named_buffers(recurse, include_nonpersistent))
        {
            FactorHandouts++;
            yield return entry;
        }
    }

    /// <inheritdoc />
    /// <remarks>Counts as a hand-out of U and V (see <see cref="U"/>).</remarks>
    public override Tensor? get_buffer(string target)
    {
        FactorHandouts++;
        return base.get_buffer(target);
    }

    /// <summary>Size of each input sample, <c>d_in</c>.</summary>
    public long in_features { get; }

    /// <summary>Size of each output sample, <c>d_out</c>.</summary>
    public long out_features { get; }

    /// <summary>Number of singular values, <c>r = min(in_features, out_features)</c>.</summary>
    public long rank { get; }

    /// <summary>The number of values this layer trains (its method's vectors that train, plus the bias when it trains).</summary>
    public long TrainableParameterCount => TrainedParameters().Where(p => p.Trainable).Sum(p => p.Parameter.numel());

    /// <summary>
    /// SHA-256 of the bytes of the weight the layer was built from, and its dtype (the adapter's base-model fingerprint
    /// checks it exactly); <c>null</c> once the layer was converted to another dtype.
    /// </summary>
    internal (string Sha256, ScalarType DType)? SourceWeight { get; private set; }

    /// <summary>How many times <c>forward</c> was called (<see cref="ModelSurgery.VerifyForward"/> compares it before and after a forward pass).</summary>
    internal long ForwardCalls { get; private set; }

    /// <summary>Forces one evaluation path (tests and benchmarks); <see cref="ForwardPath.Auto"/> picks by cost.</summary>
    internal ForwardPath PathOverride { get; set; }

    /// <summary>
    /// The parameters this layer may train, each with whether its options let it train (the method's trained tensor first,
    /// then the bias). Surgery sets <c>requires_grad</c> from it and the report collects the trainable ones.
    /// </summary>
    internal IEnumerable<(Parameter Parameter, bool Trainable)> TrainedParameters()
    {
        yield return (Trained, TrainsOwnTensor);
        if (_bias is not null)
        {
            yield return (_bias, _trainBias);
        }
    }

    /// <summary>The method's trained tensor (VectorFit's σ, SVFT's entries of <c>M</c>).</summary>
    private protected abstract Parameter Trained { get; }

    /// <summary>Whether the layer's options let <see cref="Trained"/> train.</summary>
    private protected abstract bool TrainsOwnTensor { get; }

    /// <summary>The state_dict keys (relative to the layer) an adapter file holds for this layer's method, for a layer described by <paramref name="info"/>.</summary>
    internal IEnumerable<string> AdapterKeys(AdaptedLayerInfo info) => AdapterMethod.For(Method).AdapterKeys(info);

    /// <summary>σ when it is frozen state of the base model rather than a parameter (SVFT's <c>frozen_sigma</c>); <c>null</c> otherwise.</summary>
    internal virtual Tensor? FrozenSigma => null;

    /// <summary>
    /// A parameter derived from the base weight that the layer does not train (VectorFit's σ when the variant freezes it): the
    /// base-model fingerprint covers it, because it must equal the fresh base's; <c>null</c> when there is none.
    /// </summary>
    internal virtual Parameter? UntrainedBaseParameter => null;

    /// <summary>The vectors Adaptive Vector Freezing tracks in this layer (none for methods AVF does not apply to).</summary>
    internal virtual IEnumerable<(AvfVectorKind Kind, Parameter Vector)> AvfVectors() => [];

    /// <summary>Whether Adaptive Vector Freezing applies to this method (method §3: VectorFit's σ and b).</summary>
    internal bool SupportsAvf => AdapterMethod.For(Method).SupportsAvf;

    /// <summary>The report entry of this layer.</summary>
    internal AdaptedLayerInfo Describe(string name, LayerRole role)
    {
        return DescribeMethod(new AdaptedLayerInfo
        {
            Name = name,
            Role = role,
            InFeatures = in_features,
            OutFeatures = out_features,
            Rank = rank,
            HasBias = _bias is not null,
            TrainSigma = TrainsOwnTensor,
            TrainBias = _trainBias && _bias is not null,
            Method = Method,
        });
    }

    /// <summary>
    /// Checks the tensors an adapter file is about to load into this layer (keys relative to the model) before anything is copied;
    /// one line per problem. The default accepts what the shape checks accepted.
    /// </summary>
    internal virtual IEnumerable<string> LoadProblems(string name, IReadOnlyDictionary<string, Tensor> loaded) => [];

    /// <summary>Adds the method's own fields (e.g. SVFT's pattern) to the report entry.</summary>
    private protected virtual AdaptedLayerInfo DescribeMethod(AdaptedLayerInfo info) => info;

    /// <summary>Computes the layer's output after the input checks.</summary>
    /// <param name="input">Input <c>(*, in_features)</c>, same dtype and device as the layer.</param>
    /// <returns>Output <c>(*, out_features)</c>; it belongs to the caller's dispose scope (every temporary is disposed here).</returns>
    /// <exception cref="ArgumentException">The last dimension is not <c>in_features</c>, or dtype or device differ.</exception>
    public sealed override Tensor forward(Tensor input)
    {
        ForwardCalls++;
        ValidateInput(input);
        return Evaluate(input);
    }

    /// <summary>The method's evaluation of a checked input.</summary>
    private protected abstract Tensor Evaluate(Tensor input);

    /// <summary>The full weight <c>(out_features, in_features)</c> in float64 from the current trained values, under the caller's <c>no_grad</c> and dispose scope.</summary>
    private protected abstract Tensor ComposeWeight64();

    /// <summary>The layer in messages, e.g. <c>VectorFitLinear (768 -> 768)</c>.</summary>
    private protected virtual string Title => $"{GetType().Name} ({in_features} -> {out_features})";

    /// <summary>Merges the layer into a plain <c>Linear</c> with the weight it computes with and a copy of the bias.</summary>
    /// <returns>A new, independent <c>Linear</c> in the layer's compute dtype and device (trainable, like any new Linear).</returns>
    /// <remarks>
    /// Method §1 and §5. The product is formed in float64 (from U and V as stored, so narrow factors give the weight they
    /// computed with) and rounded once to the compute dtype.
    /// </remarks>
    /// <exception cref="InvalidOperationException">The merged weight or the bias contains NaN or infinite values.</exception>
    public Linear ToLinear()
    {
        Tensor weight;
        Tensor? biasCopy;
        using (torch.NewDisposeScope())
        using (torch.no_grad())
        {
            weight = ComposeWeight64().to(_computeDType).clone();
            var badWeight = weight.isfinite().logical_not().sum().item<long>();
            var badBias = _bias is null ? 0 : _bias.isfinite().logical_not().sum().item<long>();
            if (badWeight > 0 || badBias > 0)
            {
                throw new InvalidOperationException(
                    $"Cannot merge {Title}: the merged weight has {badWeight} and the bias {badBias} NaN or infinite values, so training has diverged. " +
                    "Restore a finite checkpoint (or lower the learning rate) before merging.");
            }

            weight.DetachFromDisposeScope();
            biasCopy = _bias?.detach().clone().DetachFromDisposeScope();
        }

        return nn.Linear(new Parameter(weight), biasCopy is null ? null : new Parameter(biasCopy));
    }

    /// <summary>The weight update learned so far, <c>ΔW = W − W₀</c>, <c>(out_features, in_features)</c>.</summary>
    /// <returns>A new tensor in the layer's compute dtype and device, not tracked by autograd; the caller owns it.</returns>
    public abstract Tensor DeltaWeight();

    /// <inheritdoc />
    protected override nn.Module _to(Device device, ScalarType dtype, bool non_blocking)
    {
        MoveTo(RequireFloatingPoint(dtype), device);
        return this;
    }

    /// <inheritdoc />
    protected override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking)
    {
        MoveTo(null, new Device(deviceType, deviceIndex));
        return this;
    }

    /// <inheritdoc />
    protected override nn.Module _to(ScalarType dtype, bool non_blocking)
    {
        MoveTo(RequireFloatingPoint(dtype), null);
        return this;
    }

    /// <summary>Moves the method's own tensors (the base moves the bias, U and V after it).</summary>
    private protected abstract void MoveOwnTensors(ScalarType? dtype, Device? device);

    /// <summary>Moves a parameter registered under <paramref name="key"/>, keeping its gradient and <c>requires_grad</c>; returns the one to keep.</summary>
    private protected Parameter MoveParameter(string key, Parameter parameter, ScalarType? dtype, Device? device)
    {
        // Gradients and requires_grad travel with the parameters (as in Linear's own override).
        if (!ReplaceParameter(dtype, device, parameter, out var moved))
        {
            return parameter;
        }

        parameter.Dispose();
        ConditionallyRegisterParameter(key, moved);
        return moved!;
    }

    /// <summary>Moves a buffer registered under <paramref name="key"/> (integer buffers keep their dtype); returns the one to keep.</summary>
    private protected Tensor MoveBuffer(string key, Tensor buffer, ScalarType? dtype, Device? device)
    {
        // ReplaceBuffer converts floating-point buffers only, so int64 buffers keep their dtype.
        if (!ReplaceBuffer(dtype, device, buffer, out var moved))
        {
            return buffer;
        }

        ConditionallyRegisterBuffer(key, moved);
        return moved!;
    }

    /// <summary>A new parameter owned by the layer (out of any dispose scope).</summary>
    private protected static Parameter NewParameter(Tensor value, bool trainable)
    {
        var parameter = new Parameter(value, requires_grad: trainable);
        parameter.DetachFromDisposeScope();
        return parameter;
    }

    private void MoveTo(ScalarType? dtype, Device? device)
    {
        if (dtype is { } newType && SourceWeight is { } source && source.DType != newType)
        {
            SourceWeight = null; // the weight it was built from is no longer what it computes with
        }

        MoveOwnTensors(dtype, device);
        if (_bias is not null)
        {
            _bias = MoveParameter(BiasKey, _bias, dtype, device);
        }

        // Factors stored in an asked dtype keep it (only the device moves); otherwise they follow the compute dtype.
        var factorType = FactorDType is null ? dtype : null;
        _u = MoveBuffer(UKey, _u, factorType, device);
        _v = MoveBuffer(VKey, _v, factorType, device);
        _computeDType = dtype ?? _computeDType;
    }

    private ScalarType RequireFloatingPoint(ScalarType dtype)
    {
        if (!torch.is_floating_point(dtype))
        {
            throw new ArgumentException(
                $"{GetType().Name} can only be converted to a floating-point dtype (Float16, BFloat16, Float32, Float64), got {dtype}.",
                nameof(dtype));
        }

        return dtype;
    }

    private void ValidateInput(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var kind = GetType().Name;
        // Tensor.matmul aborts the process on a shape mismatch (facts #8): check before any product.
        if (input.dim() < 1 || input.shape[^1] != in_features)
        {
            throw new ArgumentException(
                $"{kind} expects input of shape (*, {in_features}) (in_features = {in_features}), got {ThinSvd.ShapeText(input.shape)}. " +
                "Check that the layer is applied to the right tensor, or reshape the input.",
                nameof(input));
        }

        if (input.dtype != _computeDType)
        {
            throw new ArgumentException(
                $"{kind} computes in {_computeDType} but the input is {input.dtype}; convert the input with input.to({_computeDType}) or the model with model.to({input.dtype}).",
                nameof(input));
        }

        if (input.device_type != _u.device_type || input.device_index != _u.device_index)
        {
            throw new ArgumentException(
                $"{kind} is on {_u.device} but the input is on {input.device}; move one of them with .to(device).",
                nameof(input));
        }
    }
}
