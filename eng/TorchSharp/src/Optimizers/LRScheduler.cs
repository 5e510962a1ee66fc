// Learning-rate schedulers (torch.optim.lr_scheduler), following PyTorch's definitions as TorchSharp 0.105.1
// implements them: each scheduler steps once on construction, then once per call to step(); step() sets
// every parameter group's learning rate and records it for get_last_lr().
// Nullable-oblivious like TorchSharp's optimizer sources (see Optimizer.cs).
#nullable disable

namespace TorchSharp
{
    public static partial class torch
    {
        public static partial class optim
        {
            public static partial class lr_scheduler
            {
                /// <summary>The base of learning-rate schedulers.</summary>
                public abstract class LRScheduler
                {
                    /// <summary>A scheduler bound to no optimizer (for schedulers that drive others).</summary>
                    protected LRScheduler()
                    {
                    }

                    /// <summary>
                    /// A scheduler of <paramref name="optimizer"/>'s groups: the base rates are the groups' initial rates,
                    /// and <paramref name="last_epoch"/> is the epoch before the first step.
                    /// </summary>
                    protected LRScheduler(Optimizer optimizer, int last_epoch = -1, bool verbose = false)
                    {
                        _optimizer = optimizer;
                        _last_epoch = last_epoch;
                        _verbose = verbose;
                        _base_lrs = optimizer.ParamGroups.Select(g => g.InitialLearningRate).ToList();
                        _last_lrs = optimizer.ParamGroups.Select(g => g.LearningRate).ToList();
                    }

                    /// <summary>Advances one epoch (or step) and sets the groups' learning rates.</summary>
                    public virtual void step() => step(null);

                    /// <summary>
                    /// Advances to <paramref name="epoch"/> (closed form) or, when null, one epoch past the last
                    /// (the recursive rule), and sets the groups' learning rates.
                    /// </summary>
                    public virtual void step(int? epoch)
                    {
                        _step_count += 1;
                        _last_epoch = epoch ?? _last_epoch + 1;
                        // Computed once, and before any group changes: several rules read the current rates.
                        var rates = (epoch.HasValue ? get_closed_form_lr() : get_lr()).ToList();
                        var groups = _optimizer.ParamGroups.ToList();
                        for (int i = 0; i < _base_lrs.Count; i++) {
                            groups[i].LearningRate = rates[i];
                            if (_verbose && _last_lrs[i] != rates[i]) Console.WriteLine($"Adjusting learning rate to {rates[i]}");
                            _last_lrs[i] = rates[i];
                        }
                    }

                    /// <summary>Like <see cref="step(int?)"/>; the metric is ignored (used by ReduceLROnPlateau).</summary>
                    public virtual void step(double current, int? epoch = null) => step(epoch);

                    /// <summary>The rates for the current epoch, from the previous ones (the recursive rule).</summary>
                    protected virtual IEnumerable<double> get_lr() => _optimizer.ParamGroups.Select(g => g.LearningRate);

                    /// <summary>The rates for the current epoch, from the base rates (the closed form).</summary>
                    protected virtual IEnumerable<double> get_closed_form_lr() => get_lr();

                    /// <summary>The rates the last step set, one per group.</summary>
                    public IEnumerable<double> get_last_lr() => _last_lrs;

                    internal Optimizer _optimizer;
                    internal int _last_epoch = -1;
                    internal bool _verbose;
                    /// <summary>How many times the scheduler has stepped (including the step on construction).</summary>
                    protected int _step_count;
                    internal IList<double> _last_lrs;
                    internal IList<double> _base_lrs;

                    internal IEnumerable<double> Scaled(double factor) => _optimizer.ParamGroups.Select(g => g.LearningRate * factor);

                    internal IEnumerable<double> Current() => _optimizer.ParamGroups.Select(g => g.LearningRate);
                }

                /// <summary>The scheduler classes (the functions of <see cref="lr_scheduler"/> create them).</summary>
                public static partial class impl
                {
                    /// <summary>lr = base · λ(epoch).</summary>
                    public class LambdaLR : LRScheduler
                    {
                        /// <summary>One function for every group.</summary>
                        public LambdaLR(Optimizer optimizer, Func<int, double> lr_lambda, int last_epoch = -1, bool verbose = false) : base(optimizer, last_epoch, verbose)
                        {
                            _lr_lambdas = Enumerable.Repeat(lr_lambda, optimizer.ParamGroups.Count()).ToList();
                            step();
                        }

                        /// <summary>One function per group.</summary>
                        public LambdaLR(Optimizer optimizer, IEnumerable<Func<int, double>> lr_lambdas, int last_epoch = -1, bool verbose = false) : base(optimizer, last_epoch, verbose)
                        {
                            _lr_lambdas = lr_lambdas.ToList();
                            step();
                        }

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_lr() => _base_lrs.Select((lr, i) => lr * _lr_lambdas[i](_last_epoch)).ToList();

                        private readonly List<Func<int, double>> _lr_lambdas;
                    }

                    /// <summary>lr ← lr · λ(epoch) at every step after the first.</summary>
                    public class MultiplicativeLR : LRScheduler
                    {
                        /// <summary>One function per group.</summary>
                        public MultiplicativeLR(Optimizer optimizer, IEnumerable<Func<int, double>> lr_lambdas, int last_epoch = -1, bool verbose = false) : base(optimizer, last_epoch, verbose)
                        {
                            _lr_lambdas = lr_lambdas.ToList();
                            step();
                        }

                        /// <summary>One function for every group.</summary>
                        public MultiplicativeLR(Optimizer optimizer, Func<int, double> lr_lambda, int last_epoch = -1, bool verbose = false) : base(optimizer, last_epoch, verbose)
                        {
                            _lr_lambdas = Enumerable.Repeat(lr_lambda, optimizer.ParamGroups.Count()).ToList();
                            step();
                        }

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_lr() =>
                            _last_epoch > 0 ? Current().Select((lr, i) => lr * _lr_lambdas[i](_last_epoch)).ToList() : Current();

                        private readonly List<Func<int, double>> _lr_lambdas;
                    }

                    /// <summary>lr = base · γ^⌊epoch / step_size⌋.</summary>
                    public class StepLR : LRScheduler
                    {
                        /// <summary>Decays by <paramref name="gamma"/> every <paramref name="step_size"/> epochs.</summary>
                        public StepLR(Optimizer optimizer, int step_size, double gamma = 0.1, int last_epoch = -1, bool verbose = false) : base(optimizer, last_epoch, verbose)
                        {
                            _step_size = step_size;
                            _gamma = gamma;
                            step();
                        }

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_lr() =>
                            _last_epoch != 0 && _last_epoch % _step_size == 0 ? Scaled(_gamma) : Current();

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_closed_form_lr() => _base_lrs.Select(lr => lr * Math.Pow(_gamma, _last_epoch / _step_size));

                        private readonly int _step_size;
                        private readonly double _gamma;
                    }

                    /// <summary>lr = base · γ^(number of milestones reached).</summary>
                    public class MultiStepLR : LRScheduler
                    {
                        /// <summary>Decays by <paramref name="gamma"/> at each milestone epoch.</summary>
                        public MultiStepLR(Optimizer optimizer, IList<int> milestones, double gamma = 0.1, int last_epoch = -1, bool verbose = false) : base(optimizer, last_epoch, verbose)
                        {
                            _milestones = milestones;
                            _gamma = gamma;
                            step();
                        }

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_lr() => _milestones.Contains(_last_epoch) ? Scaled(_gamma) : Current();

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_closed_form_lr()
                        {
                            var reached = _milestones.Distinct().Count(m => m <= _last_epoch);
                            return _base_lrs.Select(lr => lr * Math.Pow(_gamma, reached));
                        }

                        private readonly IList<int> _milestones;
                        private readonly double _gamma;
                    }

                    /// <summary>lr = base · (1 − min(epoch, T) / T)^power.</summary>
                    public class PolynomialLR : LRScheduler
                    {
                        /// <summary>Decays polynomially to 0 over <paramref name="total_iters"/> epochs.</summary>
                        public PolynomialLR(Optimizer optimizer, int total_iters = 5, double power = 1.0, int last_epoch = -1, bool verbose = false) : base(optimizer, last_epoch, verbose)
                        {
                            _power = power;
                            _total_iters = total_iters;
                            step();
                        }

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_lr()
                        {
                            if (_last_epoch == 0 || _last_epoch > _total_iters) return Current();
                            var ratio = (1.0 - _last_epoch / _total_iters) / (1.0 - (_last_epoch - 1) / _total_iters);
                            return Scaled(Math.Pow(ratio, _power));
                        }

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_closed_form_lr() =>
                            _base_lrs.Select(lr => lr * Math.Pow(1 - Math.Min(_total_iters, _last_epoch) / _total_iters, _power));

                        private readonly double _total_iters;
                        private readonly double _power;
                    }

                    /// <summary>lr = base · γ^epoch.</summary>
                    public class ExponentialLR : LRScheduler
                    {
                        /// <summary>Decays by <paramref name="gamma"/> every epoch.</summary>
                        public ExponentialLR(Optimizer optimizer, double gamma = 0.1, int last_epoch = -1, bool verbose = false) : base(optimizer, last_epoch, verbose)
                        {
                            _gamma = gamma;
                            step();
                        }

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_lr() => _last_epoch == 0 ? Current() : Scaled(_gamma);

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_closed_form_lr() => _base_lrs.Select(lr => lr * Math.Pow(_gamma, _last_epoch));

                        private readonly double _gamma;
                    }

                    /// <summary>lr = base · factor before epoch <c>total_iters</c>, base from then on.</summary>
                    public class ConstantLR : LRScheduler
                    {
                        /// <summary>Scales the rate by <paramref name="factor"/> for the first <paramref name="total_iters"/> epochs.</summary>
                        public ConstantLR(Optimizer optimizer, double factor = 1.0 / 3, int total_iters = 5, int last_epoch = -1, bool verbose = false) : base(optimizer, last_epoch, verbose)
                        {
                            _factor = factor;
                            _total_iters = total_iters;
                            step();
                        }

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_lr() =>
                            _last_epoch == 0 ? Scaled(_factor) : _last_epoch == _total_iters ? Scaled(1.0 / _factor) : Current();

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_closed_form_lr() =>
                            _base_lrs.Select(lr => lr * (_last_epoch >= _total_iters ? 1 : _factor));

                        private readonly double _factor;
                        private readonly int _total_iters;
                    }

                    /// <summary>lr = base · (start + (end − start) · min(epoch, T) / T): a linear ramp of the factor.</summary>
                    public class LinearLR : LRScheduler
                    {
                        /// <summary>Ramps the factor from <paramref name="start_factor"/> to <paramref name="end_factor"/> over <paramref name="total_iters"/> epochs.</summary>
                        public LinearLR(Optimizer optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, int total_iters = 5, int last_epoch = -1, bool verbose = false) : base(optimizer, last_epoch, verbose)
                        {
                            _start_factor = start_factor;
                            _end_factor = end_factor;
                            _total_iters = total_iters;
                            step();
                        }

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_lr()
                        {
                            if (_last_epoch == 0) return Scaled(_start_factor);
                            if (_last_epoch > _total_iters) return Current();
                            // the ratio of consecutive factors: f(e) / f(e − 1)
                            var delta = _end_factor - _start_factor;
                            return Scaled(1 + delta / (_total_iters * _start_factor + (_last_epoch - 1) * delta));
                        }

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_closed_form_lr() =>
                            _base_lrs.Select(lr => lr * (_start_factor + (_end_factor - _start_factor) * Math.Min(_total_iters, _last_epoch) / _total_iters));

                        private readonly double _start_factor;
                        private readonly double _end_factor;
                        private readonly int _total_iters;
                    }

                    /// <summary>Runs one scheduler after another, switching at the milestone epochs.</summary>
                    public class SequentialLR : LRScheduler
                    {
                        /// <summary>Schedulers (all of <paramref name="optimizer"/>) and the epochs at which each after the first takes over.</summary>
                        public SequentialLR(Optimizer optimizer, IEnumerable<LRScheduler> schedulers, IEnumerable<int> milestones, int last_epoch = -1) : base(optimizer, last_epoch + 1, false)
                        {
                            _schedulers = schedulers.ToArray();
                            _milestones = milestones.ToArray();
                            if (_schedulers.Any(s => s._optimizer != optimizer))
                                throw new ArgumentException("The SequentialLR scheduler expects all its sub-schedulers to be bound to the same optimizer.");
                            if (_milestones.Length != _schedulers.Length - 1)
                                throw new ArgumentException($"Received {_schedulers.Length} schedulers and {_milestones.Length} milestones. The SequentialLR scheduler expects the number of schedulers to be one more than the number of milestones. ");

                            // Undo the sub-schedulers' construction steps, then start the first one afresh.
                            foreach (var group in optimizer.ParamGroups) group.LearningRate = group.InitialLearningRate;
                            foreach (var s in _schedulers) s._last_epoch -= 1;
                            _schedulers[0].step();
                            _last_lrs = _schedulers[0]._last_lrs;
                        }

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_lr()
                        {
                            // the last milestone reached (milestones are expected in ascending order)
                            int index = _milestones.Length;
                            while (index > 0 && _milestones[index - 1] > _last_epoch) index--;
                            var scheduler = _schedulers[index];
                            if (index > 0 && _milestones[index - 1] == _last_epoch) scheduler.step(0);
                            else scheduler.step();
                            return Current().ToList();
                        }

                        private readonly LRScheduler[] _schedulers;
                        private readonly int[] _milestones;
                    }

                    /// <summary>lr = η_min + (base − η_min) · (1 + cos(π · epoch / T_max)) / 2.</summary>
                    public class CosineAnnealingLR : LRScheduler
                    {
                        /// <summary>Anneals from the base rate to <paramref name="eta_min"/> over <paramref name="T_max"/> epochs.</summary>
                        public CosineAnnealingLR(Optimizer optimizer, double T_max, double eta_min = 0, int last_epoch = -1, bool verbose = false) : base(optimizer, last_epoch, verbose)
                        {
                            _T_max = T_max;
                            _eta_min = eta_min;
                            step();
                        }

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_lr()
                        {
                            if (_last_epoch == 0) return Current();
                            var groups = _optimizer.ParamGroups.ToList();
                            if ((_last_epoch - 1 - _T_max) % (2 * _T_max) == 0)
                                return groups.Select((g, i) => g.LearningRate + (_base_lrs[i] - _eta_min) * (1 - Math.Cos(Math.PI / _T_max)) / 2).ToList();
                            var ratio = (1 + Math.Cos(Math.PI * _last_epoch / _T_max)) / (1 + Math.Cos(Math.PI * (_last_epoch - 1) / _T_max));
                            return groups.Select(g => ratio * (g.LearningRate - _eta_min) + _eta_min).ToList();
                        }

                        /// <inheritdoc/>
                        protected override IEnumerable<double> get_closed_form_lr() =>
                            _base_lrs.Select(lr => _eta_min + (lr - _eta_min) * (1 + Math.Cos(Math.PI * _last_epoch / _T_max)) / 2);

                        private readonly double _T_max;
                        private readonly double _eta_min;
                    }

                    /// <summary>Steps several schedulers together, each applying its rule to the rates the previous one set.</summary>
                    public class ChainedLR : LRScheduler
                    {
                        /// <summary>Chains <paramref name="schedulers"/>.</summary>
                        public ChainedLR(IEnumerable<LRScheduler> schedulers)
                        {
                            _schedulers = schedulers;
                        }

                        /// <summary>Steps every scheduler in order.</summary>
                        public override void step()
                        {
                            foreach (var s in _schedulers) s.step();
                        }

                        private readonly IEnumerable<LRScheduler> _schedulers;
                    }
                }

                /// <summary>Decays the rate by <paramref name="gamma"/> every <paramref name="step_size"/> epochs.</summary>
                public static LRScheduler StepLR(Optimizer optimizer, int step_size, double gamma = 0.1, int last_epoch = -1, bool verbose = false) =>
                    new impl.StepLR(optimizer, step_size, gamma, last_epoch, verbose);

                /// <summary>Sets the rate to the base rate times <paramref name="lr_lambda"/>(epoch).</summary>
                public static LRScheduler LambdaLR(Optimizer optimizer, Func<int, double> lr_lambda, int last_epoch = -1, bool verbose = false) =>
                    new impl.LambdaLR(optimizer, lr_lambda, last_epoch, verbose);

                /// <summary>Decays the rate by <paramref name="gamma"/> at each milestone.</summary>
                public static LRScheduler MultiStepLR(Optimizer optimizer, IList<int> milestones, double gamma = 0.1, int last_epoch = -1, bool verbose = false) =>
                    new impl.MultiStepLR(optimizer, milestones, gamma, last_epoch, verbose);

                /// <summary>Decays the rate polynomially to 0 over <paramref name="total_iters"/> epochs.</summary>
                public static LRScheduler PolynomialLR(Optimizer optimizer, int total_iters = 5, double power = 1, int last_epoch = -1, bool verbose = false) =>
                    new impl.PolynomialLR(optimizer, total_iters, power, last_epoch, verbose);

                /// <summary>Multiplies the rate by <paramref name="lr_lambda"/>(epoch) every epoch.</summary>
                public static LRScheduler MultiplicativeLR(Optimizer optimizer, Func<int, double> lr_lambda, int last_epoch = -1, bool verbose = false) =>
                    new impl.MultiplicativeLR(optimizer, lr_lambda, last_epoch, verbose);

                /// <summary>Decays the rate by <paramref name="gamma"/> every epoch.</summary>
                public static LRScheduler ExponentialLR(Optimizer optimizer, double gamma = 0.1, int last_epoch = -1, bool verbose = false) =>
                    new impl.ExponentialLR(optimizer, gamma, last_epoch, verbose);

                /// <summary>Scales the rate by <paramref name="factor"/> for the first <paramref name="total_iters"/> epochs.</summary>
                public static LRScheduler ConstantLR(Optimizer optimizer, double factor = 1.0 / 3, int total_iters = 5, int last_epoch = -1, bool verbose = false) =>
                    new impl.ConstantLR(optimizer, factor, total_iters, last_epoch, verbose);

                /// <summary>Runs <paramref name="schedulers"/> one after another, switching at <paramref name="milestones"/>.</summary>
                public static LRScheduler SequentialLR(Optimizer optimizer, IEnumerable<LRScheduler> schedulers, IEnumerable<int> milestones, int last_epoch = -1) =>
                    new impl.SequentialLR(optimizer, schedulers, milestones, last_epoch);

                /// <summary>Ramps the rate's factor linearly from <paramref name="start_factor"/> to <paramref name="end_factor"/>.</summary>
                public static LRScheduler LinearLR(Optimizer optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, int total_iters = 5, int last_epoch = -1, bool verbose = false) =>
                    new impl.LinearLR(optimizer, start_factor, end_factor, total_iters, last_epoch, verbose);

                /// <summary>Steps <paramref name="schedulers"/> together.</summary>
                public static LRScheduler ChainedLR(IEnumerable<LRScheduler> schedulers) => new impl.ChainedLR(schedulers);

                /// <summary>Anneals the rate along a cosine from the base rate to <paramref name="eta_min"/>.</summary>
                public static LRScheduler CosineAnnealingLR(Optimizer optimizer, double T_max, double eta_min = 0, int last_epoch = -1, bool verbose = false) =>
                    new impl.CosineAnnealingLR(optimizer, T_max, eta_min, last_epoch, verbose);
            }
        }
    }
}
