"""Word lists the seeded portal draws from. Plain data; no logic."""
from __future__ import annotations

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Charles", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra",
    "Mark", "Ashley", "Steven", "Emily", "Paul", "Michelle", "Andrew", "Amanda", "Joshua",
    "Melissa", "Kevin", "Stephanie", "Brian", "Rebecca", "George", "Laura", "Timothy", "Helen",
    "Jason", "Amy", "Ryan", "Anna", "Jacob", "Olivia", "Lukas", "Sophie", "Maximilian", "Lena",
    "Jonas", "Hannah", "Felix", "Marie", "Pierre", "Camille", "Louis", "Chloe", "Hugo", "Ines",
    "Raj", "Priya", "Arjun", "Ananya", "Wei", "Mei", "Hiroshi", "Yuki", "Carlos", "Lucia",
    "Mateo", "Sofia", "Diego", "Valentina", "Lars", "Ingrid", "Sven", "Astrid", "Liam", "Noah",
    "Emma", "Ava", "Ethan", "Mia", "Aiden", "Zoe", "Omar", "Fatima", "Kwame", "Amara", "Tomasz",
    "Agnieszka", "Joao", "Beatriz", "Ruben", "Eva",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Muller", "Schmidt", "Schneider",
    "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Dubois", "Durand", "Lefebvre", "Moreau",
    "Laurent", "Patel", "Sharma", "Singh", "Kumar", "Gupta", "Wang", "Li", "Zhang", "Chen",
    "Tanaka", "Suzuki", "Sato", "Silva", "Santos", "Oliveira", "Costa", "Johansson", "Larsen",
    "Nielsen", "Hansen", "Berg", "OBrien", "Murphy", "Kelly", "Novak", "Kowalski", "Rossi",
    "Bianchi", "Romano", "De Vries", "Jansen", "Bakker", "Visser", "Okafor", "Mensah",
)
COMPANY_STEMS = (
    "Acme", "Apex", "Aurora", "Beacon", "Blue Harbor", "Brightline", "Cedar", "Cobalt",
    "Crescent", "Delta", "Evergreen", "Falcon", "Fjord", "Granite", "Helix", "Horizon",
    "Ironwood", "Juniper", "Keystone", "Lighthouse", "Lumen", "Maple", "Meridian", "Nimbus",
    "Northwind", "Nova", "Oakridge", "Orbit", "Pinnacle", "Polar", "Prism", "Quantum",
    "Redwood", "Riverstone", "Sapphire", "Sierra", "Silverline", "Skyward", "Summit", "Tidal",
    "Titan", "Trident", "Unity", "Vantage", "Vector", "Velocity", "Vertex", "Willow", "Zenith",
    "Zephyr", "Atlas", "Bolt", "Canopy", "Drift", "Ember", "Flux", "Glacier", "Harvest",
    "Indigo", "Jade", "Kite", "Lattice", "Mosaic", "Nexus", "Onyx", "Pioneer", "Quill",
    "Radiant", "Sable", "Tandem", "Umbra", "Verde", "Wavelength", "Yonder",
)
INDUSTRY_NOUNS = {
    "COMPUTER_SOFTWARE": ("Software", "Labs", "Cloud", "Apps"),
    "INFORMATION_TECHNOLOGY_AND_SERVICES": ("Systems", "IT Services", "Technologies"),
    "INTERNET": ("Digital", "Online", "Web"),
    "COMPUTER_NETWORK_SECURITY": ("Security", "Cyber", "Shield"),
    "FINANCIAL_SERVICES": ("Capital", "Financial", "Payments"),
    "BANKING": ("Bank", "Banking Group"),
    "INSURANCE": ("Insurance", "Assurance"),
    "MARKETING_AND_ADVERTISING": ("Media", "Marketing", "Creative"),
    "MANAGEMENT_CONSULTING": ("Consulting", "Advisors", "Partners"),
    "STAFFING_AND_RECRUITING": ("Talent", "Staffing", "Recruiting"),
    "TELECOMMUNICATIONS": ("Telecom", "Networks", "Communications"),
    "HOSPITAL_HEALTH_CARE": ("Health", "Care", "Medical"),
    "RETAIL": ("Retail", "Stores", "Outfitters"),
    "CONSUMER_GOODS": ("Brands", "Goods", "Home"),
    "AUTOMOTIVE": ("Motors", "Automotive", "Mobility"),
    "MECHANICAL_OR_INDUSTRIAL_ENGINEERING": ("Engineering", "Industries", "Manufacturing"),
    "LOGISTICS_AND_SUPPLY_CHAIN": ("Logistics", "Freight", "Supply"),
    "REAL_ESTATE": ("Properties", "Realty", "Estates"),
    "HIGHER_EDUCATION": ("University", "College", "Institute"),
    "E_LEARNING": ("Learning", "Academy", "Education"),
    "NON_PROFIT_ORGANIZATION_MANAGEMENT": ("Foundation", "Trust", "Alliance"),
}
# (internal value, weight in the portal, fit for the product: -1 … +1)
INDUSTRY_MIX = (
    ("COMPUTER_SOFTWARE", 16, 1.0), ("INFORMATION_TECHNOLOGY_AND_SERVICES", 12, 0.8),
    ("INTERNET", 7, 0.8), ("COMPUTER_NETWORK_SECURITY", 4, 0.6),
    ("FINANCIAL_SERVICES", 7, 0.5), ("BANKING", 3, 0.2), ("INSURANCE", 3, 0.1),
    ("MARKETING_AND_ADVERTISING", 7, 0.6), ("MANAGEMENT_CONSULTING", 5, 0.2),
    ("STAFFING_AND_RECRUITING", 3, 0.1), ("TELECOMMUNICATIONS", 3, 0.2),
    ("HOSPITAL_HEALTH_CARE", 5, -0.4), ("RETAIL", 5, -0.2), ("CONSUMER_GOODS", 3, -0.3),
    ("AUTOMOTIVE", 2, -0.3), ("MECHANICAL_OR_INDUSTRIAL_ENGINEERING", 4, -0.4),
    ("LOGISTICS_AND_SUPPLY_CHAIN", 3, -0.1), ("REAL_ESTATE", 2, -0.4),
    ("HIGHER_EDUCATION", 3, -0.9), ("E_LEARNING", 2, 0.0),
    ("NON_PROFIT_ORGANIZATION_MANAGEMENT", 2, -1.0),
)
# (country, weight, top-level domain, legal suffix)
COUNTRIES = (
    ("United States", 40, "com", "Inc."), ("United Kingdom", 12, "co.uk", "Ltd"),
    ("Germany", 10, "de", "GmbH"), ("France", 6, "fr", "SAS"), ("Canada", 6, "ca", "Inc."),
    ("Netherlands", 4, "nl", "B.V."), ("Australia", 4, "com.au", "Pty Ltd"),
    ("India", 5, "in", "Pvt Ltd"), ("Spain", 3, "es", "S.L."), ("Sweden", 3, "se", "AB"),
    ("Brazil", 3, "com.br", "Ltda"), ("Ireland", 2, "ie", "Ltd"), ("Singapore", 2, "sg",
                                                                   "Pte Ltd"),
)
FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com")
DEPARTMENTS = (  # (name, weight, fit)
    ("Sales", 18, 0.5), ("Marketing", 16, 0.5), ("Revenue Operations", 6, 0.9),
    ("Engineering", 16, -0.2), ("Finance", 8, -0.2), ("Operations", 10, 0.1),
    ("Human Resources", 6, -0.5), ("IT", 8, 0.0), ("Customer Success", 6, 0.2),
    ("Product", 6, 0.0),
)
# (level, weight, fit, HubSpot hs_seniority)
LEVELS = (
    ("c_level", 4, 1.0, "executive"), ("vp", 7, 1.1, "vp"), ("director", 12, 0.9, "director"),
    ("head", 6, 0.9, "director"), ("manager", 22, 0.4, "manager"),
    ("senior_ic", 14, 0.0, "senior"), ("ic", 21, -0.3, "entry"),
    ("student", 4, -1.6, "entry"), ("intern", 4, -1.4, "entry"),
    ("consultant", 6, -0.4, "partner"),
)
C_LEVEL_TITLES = ("CEO", "Founder & CEO", "Chief Revenue Officer", "Chief Marketing Officer",
                  "CTO", "CFO", "COO", "Chief Operating Officer", "Co-Founder")
IC_TITLES = {
    "Sales": ("Account Executive", "Sales Development Representative", "Sales Representative"),
    "Marketing": ("Marketing Specialist", "Content Marketer", "Demand Generation Specialist"),
    "Revenue Operations": ("RevOps Analyst", "Sales Operations Analyst", "CRM Administrator"),
    "Engineering": ("Software Engineer", "Backend Developer", "QA Engineer"),
    "Finance": ("Financial Analyst", "Accountant"),
    "Operations": ("Operations Analyst", "Operations Coordinator"),
    "Human Resources": ("HR Generalist", "Recruiter"),
    "IT": ("Systems Administrator", "IT Support Engineer"),
    "Customer Success": ("Customer Success Associate", "Support Specialist"),
    "Product": ("Product Analyst", "UX Designer"),
}
STUDENT_TITLES = ("Student", "MBA Student", "PhD Student", "Graduate Student")
CONSULTANT_TITLES = ("Consultant", "Independent Consultant", "Senior Consultant", "Freelancer")
CONVERSIONS = ("Demo request", "Ebook download: RevOps playbook", "Webinar registration",
               "Newsletter signup", "Pricing page contact form", "Free trial signup")
MEETING_TITLES = ("Intro call", "Discovery call", "Product demo", "Technical deep-dive",
                  "Pricing discussion", "Quarterly business review", "Onboarding kickoff")
OUTBOUND_SUBJECTS = ("Quick question about {company}", "Following up", "Ideas for {company}",
                     "Intro: lead scoring at {company}", "Checking in", "Case study you asked "
                     "for", "Re: next steps")
INBOUND_SUBJECTS = ("Re: Quick question about {company}", "Question about pricing",
                    "Re: Following up", "Can we set up a demo?", "Re: next steps",
                    "Out of office")
NOTE_TEMPLATES = (
    "<p>Spoke with {first}: evaluating tools for {topic}.</p>",
    "<p>{first} asked for a follow-up in {weeks} weeks.</p>",
    "<p>Left voicemail for {first}.</p>",
    "<p>{first} is interested in {topic}; budget owner is unclear.</p>",
    "<p>Met {first} at a conference booth; wants a demo.</p>",
    "<p>{first} not the right contact; referred us to a colleague.</p>",
)
NOTE_TOPICS = ("lead scoring", "CRM hygiene", "pipeline reporting", "marketing attribution",
               "sales forecasting", "data enrichment")
TASK_SUBJECTS = ("Follow up with {first} {last}", "Send pricing to {first}",
                 "Call {first} back", "Connect with {first} on LinkedIn",
                 "Prepare demo for {company}")
